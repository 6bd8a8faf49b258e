"""LoginService: password authentication with throttling per account and per source."""
from __future__ import annotations

import time
from dataclasses import dataclass

from idp.accounts import AccountRepository
from idp.audit import AuditLog
from idp.crypto import Passwords
from idp.db import Database
from idp.ephemeral import RedisStore
from idp.errors import InvalidCredentials, Throttled

ACR_PASSWORD = "urn:leerid:acr:pwd"
ACR_MFA = "urn:leerid:acr:mfa"


@dataclass(frozen=True)
class AuthResult:
    account_id: str
    acr: str
    amr: list[str]
    auth_time: int


class LoginService:
    def __init__(self, db: Database, store: RedisStore, passwords: Passwords, audit: AuditLog, *,
                 max_failures: int, max_failures_per_source: int, window: int):
        self.db = db
        self.audit = audit
        self.store = store
        self.passwords = passwords
        self.max_failures = max_failures
        self.max_per_source = max_failures_per_source
        self.window = window

    def password(self, username: str, password: str, source: str) -> AuthResult:
        """Unknown user and wrong password look and take the same; a throttled attempt is refused."""
        username = username.strip().lower()[:64]
        self._count_attempt(username, source)
        with self.db.read() as session:
            account = AccountRepository(session).find_by_username(username)
            stored = account.password_hash if account and account.disabled_at is None else None
            ok = self.passwords.verify(stored, password[:256])
            account_id = account.id if account else None
        if not ok or account_id is None:
            if account_id is not None:
                self.audit.record("login_failed", actor_id=account_id, subject_id=account_id,
                                  detail={"method": "pwd"})
            raise InvalidCredentials("unknown user or wrong password")
        self.store.delete("login-attempts-account", username)
        self.store.uncount("login-attempts-source", source)
        if self.passwords.needs_rehash(stored):
            self._rehash(account_id, password)
        self.audit.record("login", actor_id=account_id, subject_id=account_id, detail={"amr": ["pwd"]})
        return AuthResult(account_id, ACR_PASSWORD, ["pwd"], int(time.time()))

    def _count_attempt(self, username: str, source: str) -> None:
        """Every attempt is counted before the password is checked, so parallel guesses cannot slip past;
        a successful login takes its own count back."""
        for kind, ident, limit in (("login-attempts-account", username, self.max_failures),
                                   ("login-attempts-source", source, self.max_per_source)):
            attempts, left = self.store.count(kind, ident, self.window)
            if attempts > limit:
                raise Throttled(left or self.window)

    def _rehash(self, account_id: str, password: str) -> None:
        with self.db.transaction() as session:
            account = AccountRepository(session).get(account_id)
            account.password_hash = self.passwords.hash(password)
