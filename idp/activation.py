"""First login: one-time activation codes (14 days, single use) that let a person choose a password."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from idp import audit
from idp.accounts import Account, AccountRepository
from idp.crypto import Passwords, sha256_hex
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.directory import Membership, SchoolClass
from idp.errors import InvalidInput, NotFound

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: easy to type from paper
CODE_GROUPS, GROUP_LENGTH = 3, 4  # 12 characters, 60 bits
VALID_DAYS = 14
MIN_PASSWORD = {"pupil": 8, "parent": 8, "teacher": 12, "staff": 12}


class ActivationCode(Base):
    __tablename__ = "activation_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class InvalidActivationCode(InvalidInput):
    """Unknown, used, replaced or expired: the person is told the same for each."""


class WeakPassword(InvalidInput):
    def __init__(self, minimum: int):
        super().__init__(f"the password needs at least {minimum} characters")
        self.minimum = minimum


@dataclass(frozen=True)
class Letter:
    username: str
    given_name: str
    family_name: str
    class_name: str | None
    code: str
    expires: date


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_GROUPS * GROUP_LENGTH))
    return "-".join(raw[i:i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))


def normalise(code: str) -> str:
    """What a person typed, as it was printed: case, spaces and dashes do not matter."""
    return "".join(c for c in code.upper() if c.isalnum())[:64]


def fresh_letter(session: Session, account: Account, class_name: str | None, today: date) -> Letter:
    """Inside the caller's transaction: a new one-time code for the person; every earlier unused one stops working."""
    code = new_code()
    session.execute(update(ActivationCode).where(ActivationCode.account_id == account.id,
                                                 ActivationCode.used_at.is_(None)).values(expires_at=utcnow()))
    session.add(ActivationCode(account_id=account.id, code_hash=sha256_hex(normalise(code)),
                               expires_at=utcnow() + timedelta(days=VALID_DAYS)))
    return Letter(account.username, account.given_name, account.family_name, class_name, code,
                  today + timedelta(days=VALID_DAYS))


class Activation:
    def __init__(self, db: Database, passwords: Passwords):
        self.db = db
        self.passwords = passwords

    def issue_letters(self, school_number: str, class_name: str | None = None, *, everyone: bool = False,
                      today: date | None = None) -> list[Letter]:
        """A fresh code for each current member of the school (of the class) who has no password yet
        (or everyone); a new code replaces every earlier one of that person."""
        today = today or date.today()
        letters = []
        with self.db.transaction() as session:
            school = AccountRepository(session).find_school(school_number)
            if school is None:
                raise NotFound(f"no school with number {school_number}")
            query = select(Membership).where(Membership.school_id == school.id)
            if class_name:
                query = query.join(SchoolClass).where(SchoolClass.name == class_name)
            members = [m for m in session.scalars(query) if m.current(today)]
            accounts = {m.account_id: (m.account, m.class_name) for m in members}
            for account, in_class in sorted(accounts.values(), key=lambda a: (a[1] or "", a[0].family_name)):
                if account.disabled_at is not None or (account.password_hash and not everyone):
                    continue
                letters.append(fresh_letter(session, account, in_class, today))
            audit.record(session, "activation_letters_issued", school_id=school.id,
                         detail={"letters": len(letters), "class": class_name})
        return letters

    def activate(self, code: str, password: str) -> Account:
        """Set the first password with a valid code; the code is spent at once."""
        code_hash = sha256_hex(normalise(code))
        with self.db.transaction() as session:
            row = session.scalar(select(ActivationCode).where(ActivationCode.code_hash == code_hash))
            if row is None or row.used_at is not None or row.expires_at <= utcnow():
                raise InvalidActivationCode("this activation code is not valid (any more)")
            account = session.get(Account, row.account_id)
            if account is None or account.disabled_at is not None:
                raise InvalidActivationCode("this activation code is not valid (any more)")
            minimum = MIN_PASSWORD.get(account.role, 8)
            if not minimum <= len(password) <= 256:
                raise WeakPassword(minimum)
            spent = session.execute(update(ActivationCode).where(ActivationCode.id == row.id,
                                                                 ActivationCode.used_at.is_(None))
                                    .values(used_at=utcnow())).rowcount
            if spent != 1:
                raise InvalidActivationCode("this activation code is not valid (any more)")
            account.password_hash = self.passwords.hash(password)
            audit.record(session, "account_activated", actor_id=account.id, subject_id=account.id)
            return account
