"""TOTP (RFC 6238) as a second factor: enrolment, the secret encrypted at rest, single-use codes."""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from idp.accounts import AccountRepository
from idp.audit import AuditLog
from idp.crypto import Vault
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.ephemeral import RedisStore
from idp.errors import InvalidCredentials, NotFound

ISSUER = "leerID"
DIGITS = 6
VALID_WINDOW = 1  # pyotp's valid_window: the step before and after the current one count too
STEP_TTL = 90  # seconds: as long as a code of the remembered step (and its neighbours) can be valid
# The last time step used per account: a code is accepted only for a later step, atomically (SECURITY.md pyotp).
USE_STEP = """local last = tonumber(redis.call('get', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1"""


class TotpCredential(Base):
    __tablename__ = "totp_credentials"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255))  # Vault ciphertext, bound to the account
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


def _context(account_id: str) -> str:
    return f"totp:{account_id}"


class TotpService:
    """Enrols accounts and checks their codes; never stores or logs a secret in clear."""

    def __init__(self, db: Database, vault: Vault, audit: AuditLog, store: RedisStore | None = None,
                 clock=time.time):
        self.db = db
        self.vault = vault
        self.audit = audit
        self.store = store
        self.clock = clock

    def enrol(self, username: str) -> Enrolment:
        """A new secret for the account, replacing any earlier one (re-enrolment)."""
        secret = pyotp.random_base32()
        with self.db.transaction() as session:
            account = AccountRepository(session).find_by_username(username.strip().lower()[:64])
            if account is None:
                raise NotFound(f"no account {username}")
            sealed = self.vault.encrypt(secret.encode(), _context(account.id))
            credential = session.get(TotpCredential, account.id)
            if credential is None:
                session.add(TotpCredential(account_id=account.id, secret_encrypted=sealed))
            else:
                credential.secret_encrypted, credential.created_at = sealed, utcnow()
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
        code = normalise(code)
        with self.db.read() as session:
            credential = session.get(TotpCredential, account_id)
            sealed = credential.secret_encrypted if credential else None
        if code is None or sealed is None:
            return False
        totp = pyotp.TOTP(self.vault.decrypt(sealed, _context(account_id)).decode())
        current = int(self.clock() // totp.interval)
        for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                return self._use_step(account_id, step)
        return False

    def _use_step(self, account_id: str, step: int) -> bool:
        key = RedisStore.key("totp_step", account_id)
        return bool(self.store.raw(lambda r: r.eval(USE_STEP, 1, key, step, STEP_TTL)))
