"""LoginService: password and TOTP authentication, every attempt judged by the Guard (idp/guard.py)."""
from __future__ import annotations

import time
from datetime import date
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from idp.accounts import AccountRepository
from idp.audit import AuditLog
from idp.crypto import Passwords, sha256_hex
from idp.db import Database
from idp.errors import InvalidCredentials
from idp.guard import Attempt, Guard
from idp.passkeys import second_factors
from idp.totp import InvalidTotpError

ACR_PASSWORD = "urn:leerid:acr:pwd"
ACR_MFA = "urn:leerid:acr:mfa"


@dataclass(frozen=True)
class AuthResult:
    account_id: str
    acr: str
    amr: list[str]
    auth_time: int
    second_factor: tuple[str, ...] = ()  # ("otp", "hwk"): the password was right; one of these must follow first
    # What the password login read already, so that the steps after it need not read it again (None: not read):
    factors: tuple[str, ...] | None = None  # the second factors the account has
    roles: frozenset[str] | None = None  # the roles of its memberships current today
    version: str | None = None  # its credential version (for the guard's device cookie)


@dataclass(frozen=True)
class _Found:
    name: str  # the name typed, trimmed and lower-cased
    account_id: str | None
    stored: str | None  # the password hash; None for an unknown or deactivated account
    key: str  # what the guard counts by: the account id, or the unknown name
    version: str  # changes with the password: a new password starts with a clean count and ends device trust
    roles: frozenset[str] = frozenset()  # the roles of its memberships current today


class RecoveryCodes(Protocol):
    """The recovery codes of an account (idp/totp.py TotpService)."""

    def has_recovery_code(self, account_id: str, code: str) -> bool: ...  # looks, never changes anything

    def use_recovery_code(self, account_id: str, code: str) -> bool: ...  # uses it up; False when already used


def credential_version(stored: str | None) -> str:
    """The guard's version of a password hash (idp/guard.py): "" for none."""
    return sha256_hex(stored)[:16] if stored else ""


class LoginService:
    def __init__(self, db: Database, guard: Guard, passwords: Passwords, audit: AuditLog):
        self.db = db
        self.guard = guard
        self.passwords = passwords
        self.audit = audit

    def password(self, username: str, password: str, source: str, device: str | None = None) -> AuthResult:
        """Unknown user and wrong password look and take the same, their delays and locks too; a throttled attempt
        is refused (Throttled, Locked) before the password is looked at. `device`: the browser's device cookie."""
        found = self._find(username)
        attempt = self.guard.before("pwd", found.key, source, device, found.version)
        ok = self.passwords.verify(found.stored, password[:256])
        account_id = found.account_id
        if not ok or account_id is None:
            self._failed(attempt, "login_failed", "pwd", account_id, found.name)
            raise InvalidCredentials("unknown user or wrong password")
        self.guard.succeeded(attempt)
        version = found.version
        if self.passwords.needs_rehash(found.stored):
            self._rehash(account_id, password)
            version = None  # a new hash: read again when needed
        factors = self.second_factors(account_id)
        read = {"factors": factors, "roles": found.roles, "version": version}
        if factors:  # the login is audited once the code is right too
            return AuthResult(account_id, ACR_PASSWORD, ["pwd"], int(time.time()), second_factor=factors, **read)
        self.audit.record("login", actor_id=account_id, subject_id=account_id, detail={"amr": ["pwd"]})
        return AuthResult(account_id, ACR_PASSWORD, ["pwd"], int(time.time()), **read)

    def recover(self, username: str, password: str, code: str, source: str, codes: RecoveryCodes,
                device: str | None = None) -> AuthResult:
        """The way back in for a person with a code app whose account is locked by someone else's guesses: the
        password and one recovery code together (two factors: acr mfa, amr pwd+mfa). Counted as its own kind
        ("recovery"), apart from the password's lock; a guesser would need a 20-digit single-use code as well.
        The code is looked up whatever the password (so that the time taken never tells whether the password was
        right), and used up only when both are right."""
        found = self._find(username)
        attempt = self.guard.before("recovery", found.key, source, device, found.version)
        account_id = found.account_id
        password_ok = self.passwords.verify(found.stored, password[:256]) and account_id is not None
        code_ok = codes.has_recovery_code(account_id or "", code)
        if not (password_ok and code_ok and codes.use_recovery_code(account_id, code)):
            event, method = ("mfa_failed", "recovery") if password_ok else ("login_failed", "pwd")
            self._failed(attempt, event, method, account_id, found.name)
            raise InvalidCredentials("unknown user, wrong password or wrong recovery code")
        self.guard.succeeded(attempt)
        methods = ["pwd", "mfa"]
        self.audit.record("login", actor_id=account_id, subject_id=account_id, detail={"amr": methods})
        return AuthResult(account_id, ACR_MFA, methods, int(time.time()))

    def has_second_factor(self, account_id: str, result: AuthResult | None = None) -> bool:
        """`result`: the login of that account just now, which may know it already."""
        if result is not None and result.account_id == account_id and result.factors is not None:
            return bool(result.factors)
        return bool(self.second_factors(account_id))

    def second_factors(self, account_id: str) -> tuple[str, ...]:
        """The account's second factors as amr values: "otp" (a code app), "hwk" (a passkey)."""
        with self.db.read() as session:
            return second_factors(session, account_id)

    def totp(self, account_id: str, code: str, source: str, check: Callable[[str, str], bool],
             amr: tuple[str, ...] = ("pwd",), device: str | None = None) -> AuthResult:
        """The second factor after `amr`, judged by the guard as kind "otp" (apart from the password's count, which
        a right password resets); a throttled attempt is refused even with the right code."""
        attempt = self.guard.before("otp", account_id, source, device, self.credential_version(account_id))
        if not check(account_id, code):
            self._failed(attempt, "mfa_failed", "otp", account_id)
            raise InvalidTotpError("wrong or used code")
        self.guard.succeeded(attempt)
        methods = [*dict.fromkeys([*amr, "otp"])]
        self.audit.record("login", actor_id=account_id, subject_id=account_id, detail={"amr": methods})
        return AuthResult(account_id, ACR_MFA, methods, int(time.time()))

    def credential_version(self, account_id: str) -> str:
        """The account's credential version for the guard (idp/guard.py): it changes with the password."""
        with self.db.read() as session:
            account = AccountRepository(session).find(account_id)
            return credential_version(account.password_hash if account and account.disabled_at is None else None)

    def _find(self, username: str) -> _Found:
        username = username.strip().lower()[:64]
        with self.db.read() as session:
            account = AccountRepository(session).find_by_username(username)
            stored = account.password_hash if account and account.disabled_at is None else None
            account_id = account.id if account else None
            today = date.today()
            roles = frozenset(m.role for m in account.memberships if m.current(today)) if account else frozenset()
        return _Found(username, account_id, stored, account_id or Guard.unknown(username), credential_version(stored),
                      roles)

    def _failed(self, attempt: Attempt, event: str, method: str, account_id: str | None, name: str = "") -> None:
        """Audited (never the secret typed), then counted: it may lock the account. A name that names no one is
        audited too, by a keyed HMAC of the name and with no subject, so that a wrong password for an account and
        a name that names no one take the same work (their times never tell whether the name exists)."""
        if account_id is not None:
            self.audit.record(event, actor_id=account_id, subject_id=account_id, detail={"method": method})
        else:
            self.audit.record(event, detail={"method": method, "name": self.guard.pseudonym(name)})
        self.guard.failed(attempt)

    def _rehash(self, account_id: str, password: str) -> None:
        with self.db.transaction() as session:
            account = AccountRepository(session).get(account_id)
            account.password_hash = self.passwords.hash(password)
