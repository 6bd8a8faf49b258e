"""SessionStore: the browser's SSO session in Redis, behind an opaque cookie."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from idp.crypto import random_token
from idp.ephemeral import RedisStore


@dataclass
class SsoSession:
    sid: str  # the session id platforms see (ID token `sid`); never the cookie value
    account_id: str
    auth_time: int
    acr: str
    amr: list[str]
    clients: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    acted_for: dict = field(default_factory=dict)  # client id -> the people this session acted for there
    idle: int | None = None  # a shorter idle time-out and lifetime of its own (badge sessions); None: the store's
    lifetime: int | None = None


class SessionStore:
    KIND = "session"
    CUTOFF = "sessions-ended"  # per account: sessions that began before this moment are over

    def __init__(self, store: RedisStore, ttl: int, max_age: int):
        self.store = store
        self.ttl = ttl
        self.max_age = max_age

    def create(self, account_id: str, acr: str, amr: list[str], auth_time: int | None = None, *,
               idle: int | None = None, lifetime: int | None = None) -> tuple[str, SsoSession]:
        """A new session under a new cookie value (the identifier changes at every login); `idle` and `lifetime`
        shorten its time-outs (a badge session's)."""
        cookie = random_token(32)
        session = SsoSession(sid=random_token(16), account_id=account_id,
                             auth_time=auth_time or int(time.time()), acr=acr, amr=amr, idle=idle, lifetime=lifetime)
        self.store.put(self.KIND, cookie, asdict(session), idle or self.ttl)
        return cookie, session

    def get(self, cookie: str | None) -> SsoSession | None:
        if not cookie or len(cookie) > 100:
            return None
        data = self.store.get(self.KIND, cookie, touch=self.ttl)
        if not data:
            return None
        session = SsoSession(**data)
        cutoff = self.store.get(self.CUTOFF, session.account_id)
        if time.time() - session.created_at > (session.lifetime or self.max_age) \
                or (cutoff and session.created_at <= cutoff["at"]):
            self.store.delete(self.KIND, cookie)
            return None
        if session.idle:  # slid by the store's idle time-out above: back to its own
            self.store.raw(lambda redis: redis.expire(self.store.key(self.KIND, cookie), session.idle))
        return session

    def add_client(self, cookie: str, session: SsoSession, client_id: str, acted_for: str | None = None) -> None:
        """The platform received tokens in this session (`acted_for`: about someone the person acts for)."""
        others = session.acted_for.setdefault(client_id, []) if acted_for else []
        if client_id in session.clients and (acted_for is None or acted_for in others):
            return
        if client_id not in session.clients:
            session.clients.append(client_id)
        if acted_for:
            others.append(acted_for)
        self.store.put(self.KIND, cookie, asdict(session), session.idle or self.ttl)

    @staticmethod
    def people_at(session: SsoSession, client_id: str) -> list[str]:
        """Whose tokens the platform received in this session: the person's own, and those of whom they acted for."""
        return [session.account_id, *session.acted_for.get(client_id, [])]

    def end_all(self, account_id: str) -> None:
        """Every SSO session of the person ends (e.g. after a password reset); a later login starts a new one."""
        self.store.put(self.CUTOFF, account_id, {"at": time.time()}, self.max_age + 60)

    def end(self, cookie: str | None) -> SsoSession | None:
        if not cookie or len(cookie) > 100:
            return None
        data = self.store.consume(self.KIND, cookie)
        return SsoSession(**data) if data else None
