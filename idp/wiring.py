"""Container: the one place where settings become engine, Redis, repositories and services."""
from __future__ import annotations

import logging
import threading
from functools import cached_property

from clients.consents import ConsentStore
from clients.service import ClientRegistry
from clients.subjects import Subjects
from config.settings import Settings
from idp.accounts import AccountService
from idp.activation import Activation
from idp.audit import AuditLog
from idp.changes import ChangeFeed
from idp.codes import CodeStore
from idp.crypto import Passwords, Vault
from idp.db import Database
from idp.ephemeral import RedisStore, connect
from idp.errors import StoreUnavailable
from idp.guard import Guard, GuardPolicy
from idp.interactions import InteractionStore
from idp.keys import KeyRing
from idp.login import LoginService
from idp.sessions import SessionEnding, SessionPolicy, SessionStore
from idp.tokens import TokenService

log = logging.getLogger("leerid")


class Container:
    """Built lazily: a CLI command that needs only the database never starts Redis."""

    def __init__(self, settings: Settings):
        self.settings = settings.with_secret()

    def after_fork(self) -> None:
        """In a new worker process (gunicorn forks after loading the app): open connections of its own, and follow
        the platforms changed elsewhere (threads do not survive a fork)."""
        if "db" in self.__dict__:
            self.db.engine.dispose(close=False)
        if "store" in self.__dict__:
            self.store.redis.connection_pool.reset()
        self.follow_changes()

    @cached_property
    def db(self) -> Database:
        s = self.settings
        db = Database(s.database_url, s.database_pool_size, s.database_max_overflow)
        db.committed = self._platforms_changed
        return db

    @cached_property
    def vault(self) -> Vault:
        return Vault(self.settings.secret_keys)

    @cached_property
    def passwords(self) -> Passwords:
        s = self.settings
        return Passwords(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism)

    @cached_property
    def store(self) -> RedisStore:
        s = self.settings
        return RedisStore(connect(s.redis_url, s.var_dir, s.redis_sentinels, s.redis_sentinel_service))

    @cached_property
    def sessions(self) -> SessionStore:
        s = self.settings
        longest = max(lifetime for _, lifetime in self.session_policy.limits.values())
        sessions = SessionStore(self.store, s.session_ttl, s.session_max_age, indexed=True,
                                longest=max(longest, s.badge_session_max_age))
        sessions.tell = lambda ended: self.backchannel.session_ended(ended)  # Redis only when a session ends
        return sessions

    @cached_property
    def session_policy(self) -> SessionPolicy:
        """A new session's time-outs by role and device (idp/sessions.py): (pupil, shared) -> (idle, lifetime)."""
        s = self.settings
        return SessionPolicy(self.db, {
            (False, False): (s.session_ttl, s.session_max_age),
            (True, False): (s.pupil_session_ttl, s.pupil_session_max_age),
            (False, True): (s.shared_session_ttl, s.shared_session_max_age),
            (True, True): (s.pupil_shared_session_ttl, s.pupil_shared_session_max_age),
        }, s.client_cache_seconds)

    @cached_property
    def session_ending(self) -> SessionEnding:
        return SessionEnding(self.db, self.sessions, self.backchannel)

    @cached_property
    def interactions(self) -> InteractionStore:
        return InteractionStore(self.store, self.settings.interaction_ttl)

    @cached_property
    def keys(self) -> KeyRing:
        s = self.settings
        return KeyRing(self.db, self.vault, max(s.access_token_ttl, s.id_token_ttl), s.key_cache_seconds)

    @cached_property
    def clients(self) -> ClientRegistry:
        return ClientRegistry(self.db, self.settings.client_cache_seconds)

    def _platforms_changed(self, changed: set[str]) -> None:
        """After a commit that changed platforms: this process forgets them at once, the others when they hear."""
        for client_id in changed:
            self.clients.forget(client_id)
        self.changes.publish(changed)

    @cached_property
    def changes(self) -> ChangeFeed:
        return ChangeFeed(self.store)

    def follow_changes(self) -> threading.Event | None:
        """This process follows the platforms changed elsewhere (a thread; set the event to stop it)."""
        if self.settings.client_cache_seconds <= 0:
            return None  # nothing cached, nothing to forget
        stop = threading.Event()
        clients = self.clients
        self.changes.follow(lambda client_id: clients.forget(client_id) if client_id else clients.forget_all(), stop)
        return stop

    @cached_property
    def subjects(self) -> Subjects:
        return Subjects(self.db, self.vault)

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self.db, self.passwords)

    @cached_property
    def guard(self) -> Guard:
        """Judges every secret check: delays, locks, per-source limits and device cookies (idp/guard.py)."""
        s = self.settings
        policy = GuardPolicy(max_failures=s.login_max_failures, source_failures=s.login_max_failures_per_source,
                             window=s.login_window, lock=s.login_lock_seconds, free_failures=s.login_free_failures,
                             delay=s.login_delay, max_delay=s.login_max_delay)
        return Guard(self.store, policy, self.audit, s.secret_keys)

    @cached_property
    def login(self) -> LoginService:
        return LoginService(self.db, self.guard, self.passwords, self.audit)

    @cached_property
    def codes(self) -> CodeStore:
        return CodeStore(self.store, self.tokens, self.settings.code_ttl)

    @cached_property
    def activation(self) -> Activation:
        return Activation(self.db, self.passwords)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.db)

    @cached_property
    def tokens(self) -> TokenService:
        s = self.settings
        tokens = TokenService(self.db, self.keys, self.vault, s.issuer, s.access_token_ttl, s.id_token_ttl,
                              s.refresh_token_ttl)
        tokens.delegation_holds = lambda act: self.mandates.in_force(act.get("mandate"))
        return tokens

    @cached_property
    def school_admin(self):
        from idp.school_admin import SchoolAdministration

        return SchoolAdministration(self.db, self.sessions)

    @cached_property
    def scim(self):
        from idp.roster_import import RosterImporter
        from idp.scim import Scim

        return Scim(self.db, RosterImporter(self.db), self.settings.issuer + "/scim/v2",
                    on_deactivate=lambda account_id: self.sessions.end_all(account_id, tell=True))

    @cached_property
    def consents(self) -> ConsentStore:
        return ConsentStore(self.db)

    @cached_property
    def my_data(self):
        from idp.my_data import MyData

        def end_sessions(client_id: str, account_id: str) -> None:  # back-channel logout; Redis only when used
            self.backchannel.enqueue(client_id, account_id)

        return MyData(self.db, self.consents, on_withdraw=end_sessions)

    @cached_property
    def backchannel(self):
        from idp.backchannel import BackchannelLogout, LogoutQueue, retry_delays

        queue = LogoutQueue(self.store, retry_delays(self.settings.backchannel_retry_seconds))
        logout = BackchannelLogout(queue, self.clients, self.subjects, self.tokens, self.audit)
        logout.sweep = self.sessions.sweep  # sessions that timed out are told like a click (idp/sessions.py)
        return logout

    @cached_property
    def mandates(self):
        from mandates.store import MandateStore

        def end_delegated(mandate, platforms: list[str]) -> None:  # back-channel logout where it was used
            try:
                for client_id in platforms:
                    self.backchannel.enqueue(client_id, mandate.represented_id)
            except StoreUnavailable:  # the revocation holds regardless: its tokens stop by the database
                log.warning("back-channel logouts for mandate %s not queued: Redis unavailable", mandate.id)

        return MandateStore(self.db, on_revoke=end_delegated)

    @cached_property
    def policies(self):
        from clients.policies import PolicyStore

        return PolicyStore(self.db, self.clients.forget)
