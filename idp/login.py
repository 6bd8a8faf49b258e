"""LoginService: password and TOTP authentication with throttling per account and per source."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from idp.accounts import AccountRepository
from idp.audit import AuditLog
from idp.crypto import Passwords
from idp.db import Database
from idp.ephemeral import RedisStore
from idp.errors import InvalidCredentials, Throttled
from idp.totp import InvalidTotpError, enrolled

ACR_PASSWORD = "urn:leerid:acr:pwd"
ACR_MFA = "urn:leerid:acr:mfa"


@dataclass(frozen=True)
class AuthResult:
    account_id: str
    acr: str
    amr: list[str]
    auth_time: int
    second_factor: str | None = None  # "otp": the password was right, a TOTP code must follow before a session


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
            needs_otp = ok and account_id is not None and enrolled(session, account_id)
        if not ok or account_id is None:
            if account_id is not None:
                self.audit.record("login_failed", actor_id=account_id, subject_id=account_id,
                                  detail={"method": "pwd"})
            raise InvalidCredentials("unknown user or wrong password")
        self.store.delete("login-attempts-account", username)
        self.store.uncount("login-attempts-source", source)
        if self.passwords.needs_rehash(stored):
            self._rehash(account_id, password)
        if needs_otp:  # the login is audited once the code is right too
            return AuthResult(account_id, ACR_PASSWORD, ["pwd"], int(time.time()), second_factor="otp")
        self.audit.record("login", actor_id=account_id, subject_id=account_id, detail={"amr": ["pwd"]})
        return AuthResult(account_id, ACR_PASSWORD, ["pwd"], int(time.time()))

    def has_second_factor(self, account_id: str) -> bool:
        with self.db.read() as session:
            return enrolled(session, account_id)

    def totp(self, account_id: str, code: str, source: str, check: Callable[[str, str], bool],
             amr: tuple[str, ...] = ("pwd",)) -> AuthResult:
        """The second factor after `amr`: counted like passwords, per account (apart from the password's count, which
        a right password resets) and per source; a throttled attempt is refused even with the right code."""
        self._count_attempt(account_id, source, account_kind="totp-attempts-account")
        if not check(account_id, code):
            self.audit.record("mfa_failed", actor_id=account_id, subject_id=account_id, detail={"method": "otp"})
            raise InvalidTotpError("wrong or used code")
        self.store.delete("totp-attempts-account", account_id)
        self.store.uncount("login-attempts-source", source)
        methods = [*dict.fromkeys([*amr, "otp"])]
        self.audit.record("login", actor_id=account_id, subject_id=account_id, detail={"amr": methods})
        return AuthResult(account_id, ACR_MFA, methods, int(time.time()))

    def _count_attempt(self, account: str, source: str, account_kind: str = "login-attempts-account") -> None:
        """Every attempt is counted before the secret is checked, so parallel guesses cannot slip past;
        a successful login takes its own count back."""
        for kind, ident, limit in ((account_kind, account, self.max_failures),
                                   ("login-attempts-source", source, self.max_per_source)):
            attempts, left = self.store.count(kind, ident, self.window)
            if attempts > limit:
                raise Throttled(left or self.window)

    def _rehash(self, account_id: str, password: str) -> None:
        with self.db.transaction() as session:
            account = AccountRepository(session).get(account_id)
            account.password_hash = self.passwords.hash(password)
