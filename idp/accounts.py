"""Accounts, schools and memberships, and the service that creates them."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Boolean, Date, String, bindparam, false, select
from sqlalchemy.orm import Mapped, Session, joinedload, mapped_column, relationship

from idp import audit
from idp.crypto import Passwords
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.directory import (
    LEVELS,
    Membership,
    ParentEmail,
    School,
    SchoolClass,
    class_claim,
    current_on,
    school_claim,
    school_year,
)
from idp.errors import Duplicate, InvalidInput, NotFound

ROLES = ("pupil", "teacher", "staff", "parent")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")
SCHOOL_NUMBER = re.compile(r"^[0-9]{1,10}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    birthdate: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))
    created_at = mapped_column(UtcDateTime, default=utcnow)
    disabled_at = mapped_column(UtcDateTime, nullable=True)
    operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # runs leerID
    memberships: Mapped[list[Membership]] = relationship(back_populates="account", lazy="selectin",
                                                         order_by="[Membership.valid_from, Membership.id]")
    parent_emails: Mapped[list[ParentEmail]] = relationship(lazy="select", order_by="ParentEmail.email",
                                                            viewonly=True)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class NewAccount:
    username: str
    password: str
    given_name: str
    family_name: str
    role: str
    school: str | None = None
    class_name: str | None = None
    birthdate: date | None = None
    email: str | None = None
    school_admin: bool = False


@dataclass(frozen=True)
class Standing:
    """What the authorization endpoint needs to know of a logged-in person on every SSO hop, read in one query."""

    active: bool
    roles: frozenset[str] = frozenset()  # of the memberships current today
    schools: frozenset[int] = frozenset()  # the schools (ids) of those memberships
    holds_mandates: bool = False  # the actor of an active mandate: then the mandate store tells for whom


@dataclass(frozen=True)
class Person:
    """An account as its claims are made: its own values, and the role, school and class of each membership current
    on the day it was read. `Person.of` takes them from a loaded Account; `read_person` reads them in one query of
    plain columns, for the token endpoint, userinfo and introspection."""

    id: str
    username: str
    given_name: str
    family_name: str
    role: str
    birthdate: date | None
    email: str | None
    places: tuple[tuple[str, dict, dict | None], ...] = ()  # (role, school claim, class claim or None)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @classmethod
    def of(cls, account: Account, today: date) -> Person:
        places = tuple((m.role, m.school.as_claim(), m.school_class.as_claim() if m.school_class else None)
                       for m in account.memberships if m.current(today))
        return cls(account.id, account.username, account.given_name, account.family_name, account.role,
                   account.birthdate, account.email, places)


PERSON = (select(Account.username, Account.given_name, Account.family_name, Account.role, Account.birthdate,
                 Account.email, Account.disabled_at, Membership.role.label("member_as"), School.number,
                 School.name.label("school"),
                 SchoolClass.name.label("class_name"), SchoolClass.grade, SchoolClass.school_year)
          .outerjoin(Membership, (Membership.account_id == Account.id)
                     & current_on(bindparam("today", type_=Date)))
          .outerjoin(School, School.id == Membership.school_id)
          .outerjoin(SchoolClass, SchoolClass.id == Membership.class_id)
          .where(Account.id == bindparam("account_id")).order_by(Membership.valid_from, Membership.id))


def read_person(db: Database, account_id: str, today: date | None = None) -> Person | None:
    """The active account's Person as of `today`, from one query; None when there is no such active account."""
    rows = db.rows(PERSON, account_id=account_id, today=today or date.today())
    if not rows or rows[0].disabled_at is not None:
        return None
    first = rows[0]
    places = tuple((r.member_as, school_claim(r.number, r.school),
                    class_claim(r.class_name, r.grade, r.school_year) if r.class_name is not None else None)
                   for r in rows if r.member_as is not None)
    return Person(account_id, first.username, first.given_name, first.family_name, first.role, first.birthdate,
                  first.email, places)


class AccountRepository:
    def __init__(self, session: Session):
        self.session = session

    def find(self, account_id: str) -> Account | None:
        """With its memberships (their schools and classes) in the same query: every token reads them."""
        return self.session.get(Account, account_id, options=[joinedload(Account.memberships)])

    def get(self, account_id: str) -> Account:
        account = self.find(account_id)
        if account is None:
            raise NotFound(f"no account {account_id}")
        return account

    def find_by_username(self, username: str) -> Account | None:
        query = select(Account).options(joinedload(Account.memberships)).where(Account.username == username)
        return self.session.scalars(query).unique().first()

    def schools(self) -> list[School]:
        return list(self.session.scalars(select(School).order_by(School.number)))

    def school_class(self, school: School, name: str, on: date | None = None) -> SchoolClass:
        """The class of that name at the school in the school year of `on` (today), made when new."""
        year = school_year(on or date.today())
        found = self.session.scalar(select(SchoolClass).where(
            SchoolClass.school_id == school.id, SchoolClass.school_year == year, SchoolClass.name == name))
        if found is None:
            found = SchoolClass(school=school, school_year=year, name=name)
            self.session.add(found)
        return found

    def find_school(self, number: str) -> School | None:
        return self.session.scalar(select(School).where(School.number == number))


def revoke_grants(session: Session, account_id: str, reason: str, client_id: str | None = None) -> None:
    """Inside the caller's transaction: every refresh grant of the person (at `client_id` only, when given)
    stops working at once."""
    from idp.tokens import RefreshToken, RevokedGrant

    query = select(RefreshToken.grant_id).where(RefreshToken.account_id == account_id,
                                                RefreshToken.used_at.is_(None))
    if client_id is not None:
        query = query.where(RefreshToken.client_id == client_id)
    grants = set(session.scalars(query))
    revoked = set(session.scalars(select(RevokedGrant.grant_id).where(RevokedGrant.grant_id.in_(grants))))
    session.add_all(RevokedGrant(grant_id=g, reason=reason) for g in grants - revoked)


def _disable(session: Session, account: Account, actor_id: str | None, reason: str,
             school_id: int | None = None) -> None:
    """Deactivate inside the caller's transaction: no more logins, every refresh grant revoked, audited.

    `school_id`: the school that decided it (its console or software); only that school may undo it.
    """
    account.disabled_at = utcnow()
    revoke_grants(session, account.id, "account deactivated")
    audit.record(session, "account_deactivated", actor_id=actor_id, subject_id=account.id, school_id=school_id,
                 detail={"reason": reason})


class AccountService:
    def __init__(self, db: Database, passwords: Passwords):
        self.db = db
        self.passwords = passwords

    def create_school(self, number: str, name: str, level: str | None = None) -> School:
        number, name = number.strip(), name.strip()
        if level is not None and level not in LEVELS:
            raise InvalidInput(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        if not SCHOOL_NUMBER.match(number):
            raise InvalidInput(f"school number must be digits (instellingsnummer), got {number!r}")
        if not name or len(name) > 200:
            raise InvalidInput("school name must be 1 to 200 characters")
        with self.db.transaction() as session:
            if AccountRepository(session).find_school(number):
                raise Duplicate(f"school {number} already exists")
            school = School(number=number, name=name, level=level)
            session.add(school)
            session.flush()
            audit.record(session, "school_created", school_id=school.id, detail={"number": number})
        return school

    def create_account(self, new: NewAccount) -> Account:
        self._check(new)
        password_hash = self.passwords.hash(new.password)
        with self.db.transaction() as session:
            repo = AccountRepository(session)
            if repo.find_by_username(new.username):
                raise Duplicate(f"username {new.username} is taken")
            school = None
            if new.school:
                school = repo.find_school(new.school)
                if school is None:
                    raise NotFound(f"no school with number {new.school}")
            account = Account(
                username=new.username, password_hash=password_hash, given_name=new.given_name.strip(),
                family_name=new.family_name.strip(), role=new.role, birthdate=new.birthdate,
                email=new.email, memberships=[],
            )
            session.add(account)
            if school is not None:
                school_class = repo.school_class(school, new.class_name) if new.class_name else None
                account.memberships.append(Membership(
                    school=school, role=new.role, school_class=school_class, is_admin=new.school_admin,
                ))
            session.flush()
            audit.record(session, "account_created", subject_id=account.id,
                         school_id=school.id if school else None,
                         detail={"role": new.role, "school_admin": new.school_admin})
        return account

    def is_active(self, account_id: str) -> bool:
        with self.db.read() as session:
            account = AccountRepository(session).find(account_id)
            return account is not None and account.disabled_at is None

    def schools(self) -> list[School]:
        with self.db.read() as session:
            return AccountRepository(session).schools()

    def show(self, username: str) -> Account:
        """The account with its memberships (and their schools) loaded."""
        with self.db.read() as session:
            account = AccountRepository(session).find_by_username(username.strip().lower())
            if account is None:
                raise NotFound(f"no account {username!r}")
            for membership in account.memberships:
                membership.school  # noqa: B018 - loaded while the session is open
            account.parent_emails  # noqa: B018
            return account

    def deactivate(self, username: str, actor_id: str | None = None) -> Account:
        """The person can no longer log in, and every token of theirs stops working at once."""
        with self.db.transaction() as session:
            account = AccountRepository(session).find_by_username(username.strip().lower())
            if account is None:
                raise NotFound(f"no account {username!r}")
            if account.disabled_at is None:
                _disable(session, account, actor_id, "deactivated by an operator")
            return account

    def set_operator(self, username: str, operator: bool = True) -> Account:
        """Whether the person runs leerID: decides on vendors' policy requests at /operator. Audited."""
        with self.db.transaction() as session:
            account = AccountRepository(session).find_by_username(username.strip().lower())
            if account is None:
                raise NotFound(f"no account {username!r}")
            if account.operator != operator:
                account.operator = operator
                audit.record(session, "operator_appointed" if operator else "operator_dismissed",
                             subject_id=account.id)
            return account

    def sweep_leavers(self, grace_days: int, today: date | None = None, dry_run: bool = False) -> list[str]:
        """Deactivate pupils and staff whose last membership ended more than `grace_days` ago.

        Leaving a school never deletes anyone, and never deactivates at once: a pupil who changes school
        over the summer keeps a working leerID. Returns the usernames, sorted.
        """
        cutoff = (today or date.today()) - timedelta(days=grace_days)
        still_counting = select(Membership.account_id).where(
            (Membership.valid_until.is_(None)) | (Membership.valid_until >= cutoff))
        query = select(Account).where(
            Account.disabled_at.is_(None), Account.role.in_(("pupil", "teacher", "staff")),
            Account.id.in_(select(Membership.account_id)), Account.id.not_in(still_counting))
        with self.db.transaction() as session:
            leavers = list(session.scalars(query))
            if not dry_run:
                for account in leavers:
                    _disable(session, account, None, f"left school over {grace_days} days ago")
            return sorted(a.username for a in leavers)

    def _check(self, new: NewAccount) -> None:
        if new.role not in ROLES:
            raise InvalidInput(f"unknown role {new.role!r}; use one of {', '.join(ROLES)}")
        if not USERNAME.match(new.username):
            raise InvalidInput("username must be 3 to 64 lowercase letters, digits, '.', '_' or '-'")
        if len(new.password) < 8 or len(new.password) > 256:
            raise InvalidInput("password must be 8 to 256 characters")
        for label, value in (("given name", new.given_name), ("family name", new.family_name)):
            if not value.strip() or len(value) > 100:
                raise InvalidInput(f"{label} must be 1 to 100 characters")
        if new.email is not None and not EMAIL.match(new.email):
            raise InvalidInput(f"not an e-mail address: {new.email!r}")
        if new.birthdate is not None and new.birthdate > date.today():
            raise InvalidInput("birthdate lies in the future")
        if new.school_admin and (new.role not in ("staff", "teacher") or not new.school):
            raise InvalidInput("--school-admin needs --role staff (or teacher) and --school")
        if new.class_name is not None and not (0 < len(new.class_name.strip()) <= 64):
            raise InvalidInput("class name must be 1 to 64 characters")
        if new.class_name and not new.school:
            raise InvalidInput("--class needs --school")
