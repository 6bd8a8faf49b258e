"""TOTP (RFC 6238) as a second factor: enrolment, the secret encrypted at rest, single-use codes, and ten
single-use recovery codes for when the app is out of reach."""
from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import ForeignKey, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from idp.accounts import AccountRepository
from idp.audit import AuditLog
from idp.crypto import Vault, sha256_hex
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.ephemeral import RedisStore
from idp.errors import InvalidCredentials, NotFound
from idp.guard import Guard, GuardPolicy

ISSUER = "leerID"
DIGITS = 6
VALID_WINDOW = 1  # pyotp's valid_window: the step before and after the current one count too
STEP_TTL = 90  # seconds: as long as a code of the remembered step (and its neighbours) can be valid
# The last time step used per account: a code is accepted only for a later step, atomically (SECURITY.md pyotp).
USE_STEP = """local last = tonumber(redis.call('get', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1"""
PENDING_TTL = 600  # seconds: a new secret waits this long in Redis for its first code (like an interaction)
RECOVERY_COUNT = 10
RECOVERY_DIGITS = 20  # about 66 bits each: digits only, so the code page's numeric keyboard can type them


class TotpCredential(Base):
    __tablename__ = "totp_credentials"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255))  # Vault ciphertext, bound to the account
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RecoveryCode(Base):
    """One unused recovery code. Stored as sha256(account id, code), not argon2: a code is 20 random digits
    (about 66 bits), far beyond offline guessing of a fast hash, unlike a password; online guesses are throttled
    like TOTP codes. A plain hash also lets a code be found and used up by one atomic DELETE, where argon2 would
    cost ten slow verifications per attempt (a lever for denial of service)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class InvalidTotpError(InvalidCredentials):
    """A wrong, malformed, expired or already used code: the person is told the same for each."""


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, shown once
    otpauth_uri: str


def enrolled(session: Session, account_id: str) -> bool:
    return session.get(TotpCredential, account_id) is not None


def normalise(code: str) -> str | None:
    """Six digits, allowing spaces as people type them; None for anything else."""
    code = "".join(code.split())[:32]
    return code if len(code) == DIGITS and code.isascii() and code.isdigit() else None


def normalise_recovery(code: str) -> str | None:
    """Twenty digits, allowing the spaces and dashes they are shown with; None for anything else."""
    code = "".join(code.replace("-", " ").split())[:64]
    return code if len(code) == RECOVERY_DIGITS and code.isascii() and code.isdigit() else None


def is_recovery_code(code: str) -> bool:
    return normalise_recovery(code) is not None


def _recovery_hash(account_id: str, code: str) -> str:
    return sha256_hex(f"{account_id}:{code}")


def new_recovery_codes() -> list[str]:
    """Ten codes of twenty digits, shown in groups of four."""
    codes = ("".join(secrets.choice("0123456789") for _ in range(RECOVERY_DIGITS)) for _ in range(RECOVERY_COUNT))
    return [" ".join(code[i:i + 4] for i in range(0, RECOVERY_DIGITS, 4)) for code in codes]


def qr_svg(enrolment: Enrolment) -> str:
    """The enrolment's otpauth URI as an inline SVG QR code (segno), for the set-up pages."""
    import segno

    return segno.make(enrolment.otpauth_uri, error="m").svg_inline(scale=4, light="#fff", omitsize=False)


def grouped(secret: str) -> str:
    """The base32 secret in groups of four, as people type it into their app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _context(account_id: str) -> str:
    return f"totp:{account_id}"


def _pending_context(account_id: str) -> str:
    return f"totp-pending:{account_id}"


class TotpService:
    """Enrols accounts and checks their codes; never stores or logs a secret in clear."""

    def __init__(self, db: Database, vault: Vault, audit: AuditLog, store: RedisStore | None = None,
                 clock=time.time, limits: tuple[int, int, int] | None = None, guard: Guard | None = None):
        self.db = db
        self.vault = vault
        self.audit = audit
        self.store = store
        self.clock = clock
        self.guard = guard  # judges every code (idp/guard.py); pass the Container's guard
        if guard is None and store is not None and limits is not None:  # older callers: (per account, source, window)
            self.guard = Guard(store, GuardPolicy(max_failures=limits[0], source_failures=limits[1],
                                                  window=limits[2]), audit)

    def enrol(self, username: str) -> Enrolment:
        """A new secret for the account, replacing any earlier one (re-enrolment)."""
        secret = pyotp.random_base32()
        with self.db.transaction() as session:
            account = AccountRepository(session).find_by_username(username.strip().lower()[:64])
            if account is None:
                raise NotFound(f"no account {username}")
            self._replace_secret(session, account.id, secret)
            account_id, name = account.id, account.username
        self.audit.record("mfa_enrolled", subject_id=account_id, detail={"method": "otp"})
        uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)
        return Enrolment(secret, uri)

    def enrolled(self, account_id: str) -> bool:
        with self.db.read() as session:
            return enrolled(session, account_id)

    def check(self, account_id: str, code: str) -> bool:
        """pyotp's verify with valid_window=1, and then the matching time step is used up: the same code (or an
        older one) never counts twice for this account."""
        with self.db.read() as session:
            credential = session.get(TotpCredential, account_id)
            sealed = credential.secret_encrypted if credential else None
        if sealed is None:
            return False
        step = self._matching_step(self.vault.decrypt(sealed, _context(account_id)).decode(), code)
        return step is not None and self._use_step(account_id, step)

    def _matching_step(self, secret: str, code: str) -> int | None:
        code, totp = normalise(code), pyotp.TOTP(secret)
        current = int(self.clock() // totp.interval)
        for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
            if code is not None and hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    def _use_step(self, account_id: str, step: int) -> bool:
        key = RedisStore.key("totp_step", account_id)
        return bool(self.store.raw(lambda r: r.eval(USE_STEP, 1, key, step, STEP_TTL)))

    def _replace_secret(self, session: Session, account_id: str, secret: str) -> None:
        sealed = self.vault.encrypt(secret.encode(), _context(account_id))
        credential = session.get(TotpCredential, account_id)
        if credential is None:
            session.add(TotpCredential(account_id=account_id, secret_encrypted=sealed))
        else:
            credential.secret_encrypted, credential.created_at = sealed, utcnow()

    # --- enrolment by the person (Mijn leerID): a new secret counts only after its first code -----------------

    def start(self, account_id: str, binding: str) -> Enrolment:
        """The secret waiting for its first code in this SSO session (`binding`), or a new one: encrypted in Redis
        for PENDING_TTL, never in a cookie and never in the database before it is confirmed."""
        return self.pending(account_id, binding) or self._new_pending(account_id, binding)

    def _new_pending(self, account_id: str, binding: str) -> Enrolment:
        secret = pyotp.random_base32()
        sealed = self.vault.encrypt(secret.encode(), _pending_context(account_id))
        self.store.put("totp_pending", f"{account_id}:{binding}", {"secret": sealed}, PENDING_TTL)
        return self._enrolment(account_id, secret)

    def pending(self, account_id: str, binding: str) -> Enrolment | None:
        found = self.store.get("totp_pending", f"{account_id}:{binding}")
        if not found:
            return None
        return self._enrolment(account_id, self.vault.decrypt(found["secret"], _pending_context(account_id)).decode())

    def _enrolment(self, account_id: str, secret: str) -> Enrolment:
        with self.db.read() as session:
            name = AccountRepository(session).get(account_id).username
        return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER))

    def confirm(self, account_id: str, binding: str, code: str, *, first: bool = False) -> list[str]:
        """The first code of the waiting secret: only then does it replace any earlier secret, with ten new
        recovery codes (returned once, stored hashed). A wrong code changes nothing. `first`: a first second factor
        only (the set-up during a login): Duplicate, changing nothing, when the account has one by now (a code app
        or a passkey, set up meanwhile elsewhere); replacing one is Mijn leerID's, after its current code."""
        from idp.errors import Duplicate
        from idp.passkeys import second_factors  # that module builds on this one

        def refuse_another(session: Session) -> None:
            if first and second_factors(session, account_id):
                raise Duplicate("a second factor was set up meanwhile")

        with self.db.read() as session:
            refuse_another(session)
        pending = self.pending(account_id, binding)
        step = self._matching_step(pending.secret, code) if pending else None
        if step is None or self.store.consume("totp_pending", f"{account_id}:{binding}") is None:
            raise InvalidTotpError("wrong code, or no secret waiting")
        # The earlier secret's used steps no longer matter; this code's step is used up for the new one.
        self.store.raw(lambda r: r.set(RedisStore.key("totp_step", account_id), step, ex=STEP_TTL))
        codes = new_recovery_codes()
        with self.db.transaction() as session:
            refuse_another(session)  # again where it is written: one set up in between is not replaced either
            self._replace_secret(session, account_id, pending.secret)
            self._replace_recovery_codes(session, account_id, codes)
        self.audit.record("mfa_enrolled", actor_id=account_id, subject_id=account_id, detail={"method": "otp"})
        return codes

    def remove(self, account_id: str, code: str, source: str) -> None:
        """No second factor any more, after a current code or a recovery code."""
        self.second_factor(account_id, code, source)
        with self.db.transaction() as session:
            session.execute(delete(TotpCredential).where(TotpCredential.account_id == account_id))
            session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
        self.audit.record("mfa_removed", actor_id=account_id, subject_id=account_id, detail={"method": "otp"})

    # --- recovery codes -------------------------------------------------------------------------------------

    def recovery_codes_left(self, account_id: str) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.count()).select_from(RecoveryCode)
                                  .where(RecoveryCode.account_id == account_id)) or 0

    def renew_recovery_codes(self, account_id: str, code: str, source: str) -> list[str]:
        """Ten new recovery codes after a current code of the app; the old ones stop working."""
        self.second_factor(account_id, code, source, recovery=False)
        codes = new_recovery_codes()
        with self.db.transaction() as session:
            self._replace_recovery_codes(session, account_id, codes)
        self.audit.record("mfa_recovery_codes_renewed", actor_id=account_id, subject_id=account_id)
        return codes

    @staticmethod
    def _replace_recovery_codes(session: Session, account_id: str, codes: list[str]) -> None:
        session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
        session.add_all(RecoveryCode(account_id=account_id, code_hash=_recovery_hash(account_id, normalise_recovery(c)))
                        for c in codes)

    def has_recovery_code(self, account_id: str, code: str) -> bool:
        """Whether `code` is one of the account's unused recovery codes: one SELECT whatever is typed (a code of
        any form, an account id of "" for a name that names no one), never a change."""
        code_hash = _recovery_hash(account_id, normalise_recovery(code) or "")
        with self.db.read() as session:
            return session.scalar(select(RecoveryCode.id).where(RecoveryCode.account_id == account_id,
                                                                RecoveryCode.code_hash == code_hash)) is not None

    def use_recovery_code(self, account_id: str, code: str) -> bool:
        """Used up by one DELETE: of parallel attempts with the same code exactly one counts."""
        code = normalise_recovery(code)
        if code is None or not self.enrolled(account_id):
            return False
        with self.db.transaction() as session:
            used = session.execute(delete(RecoveryCode).where(
                RecoveryCode.account_id == account_id,
                RecoveryCode.code_hash == _recovery_hash(account_id, code))).rowcount == 1
        if used:
            self.audit.record("mfa_recovery_used", actor_id=account_id, subject_id=account_id)
        return used

    def second_factor(self, account_id: str, code: str, source: str, recovery: bool = True,
                      device: str | None = None) -> str:
        """A current code ("otp") or, with `recovery`, a recovery code ("mfa"), judged by the guard like the login's
        code page (kind "otp", or "recovery" for a code in a recovery code's form: a person whose app codes are
        locked can still use a recovery code); raises InvalidTotpError, Throttled or Locked. `device`: the
        browser's device cookie."""
        kind = "recovery" if recovery and is_recovery_code(code) else "otp"
        attempt = self.guard.before(kind, account_id, source, device)
        method = "otp" if self.check(account_id, code) else \
            "mfa" if recovery and self.use_recovery_code(account_id, code) else None
        if method is None:
            self.audit.record("mfa_failed", actor_id=account_id, subject_id=account_id, detail={"method": kind})
            self.guard.failed(attempt)
            raise InvalidTotpError("wrong or used code")
        self.guard.succeeded(attempt)
        return method
