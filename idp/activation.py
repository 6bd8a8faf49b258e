"""Choosing a password: at the first login with a one-time activation code (14 days, single use), and later in
Mijn leerID, where a signed-in person changes it after typing the current one. Both follow idp.password_rules."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from idp import audit
from idp.accounts import Account, AccountRepository, revoke_grants
from idp.crypto import Passwords, normalise_password, sha256_hex
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.directory import Membership, SchoolClass
from idp.errors import InvalidCredentials, InvalidInput, NotFound
from idp.guard import Guard
from idp.password_rules import PasswordRules, Person, Verdict
from idp.sessions import SessionStore, SsoSession

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: easy to type from paper
CODE_GROUPS, GROUP_LENGTH = 3, 4  # 12 characters, 60 bits
VALID_DAYS = 14
UNCHANGED = "unchanged"  # a reason code of its own: the new password is the current one


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
    """The new password breaks a rule; `verdict.reasons` says which (idp.password_rules)."""

    def __init__(self, verdict: Verdict):
        super().__init__(f"the password is refused: {', '.join(verdict.reasons)}")
        self.verdict = verdict
        self.minimum = verdict.minimum


def roles_of(account: Account, today: date | None = None) -> tuple[str, ...]:
    """Every role the person holds today; a school administrator or an operator counts as staff."""
    today = today or date.today()
    current = [m for m in account.memberships if m.current(today)]
    roles = [account.role, *(m.role for m in current)]
    if account.operator or any(m.is_admin for m in current):
        roles.append("staff")
    return tuple(dict.fromkeys(roles))


def person_of(account: Account) -> Person:
    return Person(account.username, account.given_name, account.family_name, account.birthdate, roles_of(account))


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

    def activate(self, code: str, password: str, rules: PasswordRules) -> Account:
        """Set the first password with a valid code; the code is spent at once, and only for a password that
        keeps the rules (WeakPassword: the code still works)."""
        code_hash = sha256_hex(normalise(code))
        with self.db.transaction() as session:
            row = session.scalar(select(ActivationCode).where(ActivationCode.code_hash == code_hash))
            if row is None or row.used_at is not None or row.expires_at <= utcnow():
                raise InvalidActivationCode("this activation code is not valid (any more)")
            account = session.get(Account, row.account_id)
            if account is None or account.disabled_at is not None:
                raise InvalidActivationCode("this activation code is not valid (any more)")
            verdict = rules.check(password, person_of(account))
            if not verdict.acceptable:
                raise WeakPassword(verdict)
            spent = session.execute(update(ActivationCode).where(ActivationCode.id == row.id,
                                                                 ActivationCode.used_at.is_(None))
                                    .values(used_at=utcnow())).rowcount
            if spent != 1:
                raise InvalidActivationCode("this activation code is not valid (any more)")
            account.password_hash = self.passwords.hash(password)
            audit.record(session, "account_activated", actor_id=account.id, subject_id=account.id)
            return account


class PasswordChange:
    """A signed-in person replaces their password (Mijn leerID). The current password is checked first and judged
    like a login's by the Guard (idp/guard.py: delays, lock, per source, the browser's device cookie; the same
    count as the login's password, so guessing here spends the same budget); then the rules. The change and its
    audit record are one transaction; afterwards every other SSO session of the person ends, and this browser's
    goes on under a new cookie. Refresh tokens stay valid, unless the person asks to sign out of every app too
    (`sign_out_apps`), e.g. because someone else may know the old password."""

    def __init__(self, db: Database, passwords: Passwords, rules: PasswordRules, guard: Guard,
                 sessions: SessionStore):
        self.db = db
        self.passwords = passwords
        self.rules = rules
        self.guard = guard
        self.sessions = sessions

    def chooser(self, account_id: str) -> tuple[Person, bool]:
        """Who chooses (for the page's minimum), and whether they have a password to change at all."""
        with self.db.read() as session:
            account = AccountRepository(session).get(account_id)
            return person_of(account), account.password_hash is not None

    def change(self, keep: SsoSession, current: str, new: str, source: str, device: str | None = None, *,
               sign_out_apps: bool = False) -> str | None:
        """The new password for the person of `keep` (this browser's session); the cookie of the session that
        replaces `keep`, None when `keep` ended meanwhile (it stays ended). Throttled (Locked), InvalidCredentials or
        WeakPassword change nothing."""
        account_id = keep.account_id
        with self.db.read() as session:
            account = AccountRepository(session).get(account_id)
            stored, person = account.password_hash, person_of(account)
        attempt = self.guard.before("pwd", account_id, source, device, sha256_hex(stored)[:16] if stored else "")
        if stored is None or not self.passwords.verify(stored, current[:256]):
            with self.db.transaction() as session:
                audit.record(session, "login_failed", actor_id=account_id, subject_id=account_id,
                             detail={"method": "pwd", "during": "password_change"})
            self.guard.failed(attempt)
            raise InvalidCredentials("wrong current password")
        self.guard.succeeded(attempt)
        verdict = self.rules.check(new, person)
        if verdict.acceptable and normalise_password(new) == normalise_password(current):
            verdict = replace(verdict, reasons=(UNCHANGED,))
        if not verdict.acceptable:
            raise WeakPassword(verdict)
        new_hash = self.passwords.hash(new)  # before the transaction: argon2 takes its time
        with self.db.transaction() as session:
            account = AccountRepository(session).get(account_id)
            account.password_hash = new_hash
            if sign_out_apps:
                revoke_grants(session, account_id, "password changed")
            audit.record(session, "password_changed", actor_id=account_id, subject_id=account_id,
                         detail={"other_sessions_ended": True, "apps_signed_out": sign_out_apps})
        return self._only(keep)

    def _only(self, keep: SsoSession) -> str | None:
        """Every SSO session of the person ends; `keep` goes on (same sid, platforms, authentication and lifetime:
        a password change does not lengthen it) under a new cookie, begun after the cut-off."""
        return self.sessions.reissue(keep)
