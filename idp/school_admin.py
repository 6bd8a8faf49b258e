"""SchoolAdministration: what a school administrator does in the school console, one school at a time.

Every method names the acting administrator and the school's number. In the same transaction as its work it
checks that the actor is an active administrator of that school today; for anyone else the school is NotFound,
exactly like a school that does not exist. People, classes and the school's platform activations are read and
changed through SchoolScope only, and the methods return plain values, never an Account (whose memberships include
other schools').
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from clients.activations import SchoolActivation
from clients.service import ClientRegistry
from idp import audit
from idp.accounts import SCHOOL_NUMBER, Account, _disable, revoke_grants
from idp.activation import Letter, fresh_letter
from idp.db import Database, utcnow
from idp.directory import school_year_label
from idp.errors import LeerIDError, NotFound
from idp.mfa_policy import RESET, forget_second_factors, second_factor_rows
from idp.school_scope import SchoolScope, administered_schools
from idp.sessions import SessionStore
from mandates.store import Mandate, MandateStore

STAFF_ROLES = ("teacher", "staff")
PAGE_SIZE = 25
MAX_PAGE = 10_000
MAX_SEARCH = 100
MAX_AGREEMENT = 200  # characters of a data-processing agreement's reference (SchoolActivation.agreement)
BRUSSELS = ZoneInfo("Europe/Brussels")


class Refused(LeerIDError):
    """The action does not apply to this person or platform; `reason` names why (the console explains each)."""

    REASONS = ("self", "elsewhere", "administrator", "not_ours", "last_admin", "not_staff", "disabled",
               "already_active", "already_disabled", "already_admin", "not_admin", "has_password",
               "no_agreement", "agreement_too_long", "not_activated",
               # mandates (idp/school_mandates.py)
               "not_pupil", "adult", "no_parent_given", "no_parent", "several_parents", "already_linked", "own_link",
               "own_mandate", "not_waiting", "no_letter_needed", "ended", "other_school",
               # second factors
               "no_mandate", "no_second_factor")

    def __init__(self, reason: str):
        super().__init__(f"refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class SchoolView:
    number: str
    name: str


@dataclass(frozen=True)
class Console:
    """What every console page shows: the school, the schools to switch to, who is signed in."""

    school: SchoolView
    schools: tuple[SchoolView, ...]
    actor_name: str


@dataclass(frozen=True)
class PersonRow:
    id: str
    username: str
    given_name: str
    family_name: str
    roles: tuple[str, ...]  # today's roles at this school
    classes: tuple[str, ...]  # today's classes at this school
    active: bool
    admin: bool

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class Found:
    people: tuple[PersonRow, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class MembershipRow:
    role: str
    class_name: str | None
    school_year: str | None
    valid_from: date
    valid_until: date | None
    admin: bool
    current: bool


@dataclass(frozen=True)
class PersonDetail:
    person: PersonRow
    birthdate: date | None
    email: str | None
    has_password: bool
    memberships: tuple[MembershipRow, ...]  # this school's only, oldest first
    elsewhere: bool  # also a member of another school today (which one, this school never learns)
    is_self: bool
    second_factor: bool = False  # a code app or a passkey
    manages: bool = False  # a `manage-account` mandate lets this administrator wipe the second factor


@dataclass(frozen=True)
class ClassRow:
    id: int
    name: str
    grade: int | None
    school_year: str
    size: int


@dataclass(frozen=True)
class ClassDetail:
    school_class: ClassRow
    members: tuple[PersonRow, ...]


@dataclass(frozen=True)
class Overview:
    pupils: int
    staff: int
    classes: int
    administrators: tuple[PersonRow, ...]


@dataclass(frozen=True)
class PlatformRow:
    """A platform on a school agreement, as this school took it on (or not)."""

    client_id: str
    name: str
    active: bool
    since: date | None  # the day this school's activation began
    agreement: str | None  # the reference of this school's data-processing agreement with the vendor
    ended: date | None  # the day this school ended it (and has not taken it on again since)


@dataclass(frozen=True)
class Letters:
    school: SchoolView
    class_name: str | None
    letters: tuple[Letter, ...]


class SchoolAdministration:
    def __init__(self, db: Database, sessions: SessionStore | None = None, clock: Callable[[], date] = date.today):
        self.db = db
        self.sessions = sessions
        self.clock = clock

    # --- who administers what ---

    def schools_of(self, actor_id: str) -> list[SchoolView]:
        """The schools this person administers today (none when the account is deactivated)."""
        with self.db.read() as session:
            actor = session.get(Account, actor_id)
            if actor is None or actor.disabled_at is not None:
                return []
            return [SchoolView(s.number, s.name) for s in administered_schools(session, actor_id, self.clock())]

    def console(self, actor_id: str, number: str) -> Console:
        with self.db.read() as session:
            scope = self._administered(session, actor_id, number)
            schools = administered_schools(session, actor_id, scope.today)
            return Console(_school(scope), tuple(SchoolView(s.number, s.name) for s in schools),
                           session.get(Account, actor_id).name)

    def _administered(self, session: Session, actor_id: str, number: str) -> SchoolScope:
        return administered(session, actor_id, number, self.clock())

    # --- reading ---

    def overview(self, actor_id: str, number: str) -> Overview:
        with self.db.read() as session:
            scope = self._administered(session, actor_id, number)
            _, pupils = scope.people(role="pupil", limit=0)
            _, staff = scope.people(role=STAFF_ROLES, limit=0)
            admins = tuple(_row(scope, a) for a in scope.administrators())
            return Overview(pupils, staff, len(scope.classes()), admins)

    def search(self, actor_id: str, number: str, *, text: str = "", roles: tuple[str, ...] | None = None,
               class_id: int | None = None, page: int = 1) -> Found:
        """Today's people of the school, by family name, PAGE_SIZE a page."""
        page = min(max(page, 1), MAX_PAGE)
        with self.db.read() as session:
            scope = self._administered(session, actor_id, number)
            if class_id is not None:
                scope.school_class(class_id)  # another school's class is NotFound, not an empty list
            people, total = scope.people(search=text[:MAX_SEARCH], role=roles, class_id=class_id,
                                         offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            return Found(tuple(_row(scope, p) for p in people), total, page,
                         max(1, math.ceil(total / PAGE_SIZE)))

    def person(self, actor_id: str, number: str, account_id: str) -> PersonDetail:
        with self.db.read() as session:
            scope = self._administered(session, actor_id, number)
            person = scope.person(account_id, current=True)
            history = tuple(MembershipRow(
                m.role, m.class_name, school_year_label(m.school_class.school_year) if m.school_class else None,
                m.valid_from, m.valid_until, m.is_admin, m.current(scope.today)) for m in scope.memberships(person))
            return PersonDetail(_row(scope, person), person.birthdate, person.email, person.password_hash is not None,
                                history, scope.elsewhere(person), person.id == actor_id,
                                bool(second_factor_rows(session, person.id)),
                                person.id != actor_id and not _shared(scope, person)
                                and managing_mandate(scope, actor_id, person.id) is not None)

    def classes(self, actor_id: str, number: str) -> list[ClassRow]:
        """This school year's classes, by name, with how many people are in each today."""
        with self.db.read() as session:
            scope = self._administered(session, actor_id, number)
            classes = scope.classes()
            sizes = scope.class_sizes(classes)
            return [_class_row(c, sizes.get(c.id, 0)) for c in classes]

    def school_class(self, actor_id: str, number: str, class_id: int) -> ClassDetail:
        with self.db.read() as session:
            scope = self._administered(session, actor_id, number)
            found = scope.school_class(class_id)
            members = tuple(_row(scope, a) for a in scope.class_members(found))
            return ClassDetail(_class_row(found, len(members)), members)

    # --- changing: one transaction per action, each audited ---

    def reset_password(self, actor_id: str, number: str, account_id: str) -> Letters:
        """The password is gone and every refresh grant revoked; the letter's code lets the person choose a new one."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            person = self._actionable(scope, account_id, actor_id)
            person.password_hash = None
            revoke_grants(session, person.id, "password reset by the school")
            letter = _letter(session, scope, person)
            _record(scope, "school_admin_password_reset", actor_id, person)
            letters = Letters(_school(scope), None, (letter,))
        if self.sessions is not None:
            self.sessions.end_all(person.id, tell=True)  # logged in with the old password somewhere: no longer
        return letters

    def person_letter(self, actor_id: str, number: str, account_id: str) -> Letters:
        """A first-login letter for someone who has no password yet (a new code replaces the old one)."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            person = self._actionable(scope, account_id, actor_id)
            if person.password_hash is not None:
                raise Refused("has_password")
            letter = _letter(session, scope, person)
            _record(scope, "activation_letter_issued", actor_id, person)
            return Letters(_school(scope), None, (letter,))

    def class_letters(self, actor_id: str, number: str, class_id: int, *, everyone: bool = False) -> Letters:
        """A letter for each active member of the class without a password (with `everyone`: for all of them)."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            found = scope.school_class(class_id)
            letters = []
            for person in scope.class_members(found):
                if person.disabled_at is None and (everyone or person.password_hash is None) \
                        and not _shared(scope, person):  # a code is a new password: not for others' people
                    letters.append(fresh_letter(session, person, found.name, scope.today))
                    _record(scope, "activation_letter_issued", actor_id, person,
                            {"class": found.name, "everyone": everyone})
            return Letters(_school(scope), found.name, tuple(letters))

    def deactivate(self, actor_id: str, number: str, account_id: str) -> PersonRow:
        """No more logins and every refresh grant revoked; refused for someone another school also counts on."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            admins = _locked_admins(scope, actor_id)
            person = scope.person(account_id, current=True)
            if person.id == actor_id:
                raise Refused("self")
            if person.disabled_at is not None:
                raise Refused("already_disabled")
            if scope.elsewhere(person):
                raise Refused("elsewhere")
            if not _active_admins(scope, {m.account_id for m in admins} - {person.id}):
                raise Refused("last_admin")
            _disable(session, person, actor_id, f"deactivated by an administrator of school {scope.school.number}",
                     school_id=scope.school.id)
            _record(scope, "school_admin_deactivated", actor_id, person)
            if self.sessions is not None:  # logged in somewhere: no longer, there and at its platforms
                self.sessions.end_all(person.id, tell=True)
            return _row(scope, person)

    def reactivate(self, actor_id: str, number: str, account_id: str) -> PersonRow:
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            person = scope.person(account_id, current=True)
            if person.disabled_at is None:
                raise Refused("already_active")
            if scope.elsewhere(person):
                raise Refused("elsewhere")
            if not scope.deactivated_here(person):
                raise Refused("not_ours")
            person.disabled_at = None
            _record(scope, "account_reactivated", actor_id, person)
            return _row(scope, person)

    def appoint(self, actor_id: str, number: str, account_id: str) -> PersonRow:
        """A current teacher or staff member of this school becomes one of its administrators."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            person = scope.person(account_id, current=True)
            if person.disabled_at is not None:
                raise Refused("disabled")
            staff = [m for m in scope.current_memberships(person) if m.role in STAFF_ROLES]
            if not staff:
                raise Refused("not_staff")
            if any(m.is_admin for m in staff):
                raise Refused("already_admin")
            for membership in staff:
                membership.is_admin = True
            _record(scope, "school_admin_appointed", actor_id, person)
            return _row(scope, person)

    def dismiss(self, actor_id: str, number: str, account_id: str) -> PersonRow:
        """The person is no longer an administrator of this school; never the last active one."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            admins = _locked_admins(scope, actor_id)
            person = scope.person(account_id, current=True)
            theirs = [m for m in admins if m.account_id == person.id]
            if not theirs:
                raise Refused("not_admin")
            if not _active_admins(scope, {m.account_id for m in admins if m.account_id != person.id}):
                raise Refused("last_admin")
            for membership in theirs:
                membership.is_admin = False
            _record(scope, "school_admin_removed", actor_id, person)
            return _row(scope, person)

    def reset_second_factor(self, actor_id: str, number: str, account_id: str) -> PersonRow:
        """The person's code app, recovery codes and passkeys are wiped and their sessions end, under a mandate
        with `manage-account` for them held by this school (a `school` mandate) or by the administrator; audited
        `mfa_reset`. At their next login the person is told, and sets up a new second factor. Like a new password,
        never for someone another school also counts on, nor for an administrator: leerID's helpdesk does that."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            person = scope.person(account_id, current=True)
            if person.id == actor_id:
                raise Refused("self")
            if _shared(scope, person):  # as for a new password: not for another school's person or an administrator
                raise Refused("elsewhere" if scope.elsewhere(person) else "administrator")
            mandate = managing_mandate(scope, actor_id, person.id)
            if mandate is None:
                raise Refused("no_mandate")
            removed = forget_second_factors(session, person.id)
            if not removed:
                raise Refused("no_second_factor")
            _record(scope, RESET, actor_id, person, {"mandate": mandate.id, "removed": removed})
            row = _row(scope, person)
        if self.sessions is not None:
            self.sessions.end_all(person.id, tell=True)  # logged in with the old second factor somewhere: no longer
        return row

    # --- platforms: which school-agreement platforms serve this school's people ---

    def platforms(self, actor_id: str, number: str) -> list[PlatformRow]:
        with self.db.read() as session:
            scope = self._administered(session, actor_id, number)
            return [_platform_row(*row) for row in scope.platforms()]

    def activate_platform(self, actor_id: str, number: str, client_id: str, agreement: str) -> PlatformRow:
        """The school takes the platform on under its data-processing agreement, whose reference is required;
        taken on already, only a different reference changes (audited as "platform_activated")."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            client_id, name, _ = scope.platform(client_id, lock=True)
            agreement = " ".join(agreement.split()) if isinstance(agreement, str) else ""
            if not agreement:
                raise Refused("no_agreement")
            if len(agreement) > MAX_AGREEMENT:
                raise Refused("agreement_too_long")
            # the registry's own step, inside this transaction; it records "platform_activated" when anything changes
            activation = ClientRegistry._activate(session, client_id, scope.school.id, agreement, actor_id,
                                                  scope.today)
            return _platform_row(client_id, name, activation)

    def end_platform(self, actor_id: str, number: str, client_id: str) -> PlatformRow:
        """The platform no longer serves this school's people; the activation is kept, with the moment it ended."""
        with self.db.transaction() as session:
            scope = self._administered(session, actor_id, number)
            client_id, name, activation = scope.platform(client_id, lock=True)
            if activation is None or activation.ended_at is not None:
                raise Refused("not_activated")
            activation.ended_at = utcnow()
            audit.record(session, "platform_deactivated", actor_id=actor_id, client_id=client_id,
                         school_id=scope.school.id, detail={"school": scope.school.number,
                                                            "agreement": activation.agreement})
            return _platform_row(client_id, name, activation)

    @staticmethod
    def _actionable(scope: SchoolScope, account_id: str, actor_id: str) -> Account:
        """A current, active member of this school other than the actor (who uses Mijn leerID for themselves)."""
        person = scope.person(account_id, current=True)
        if person.id == actor_id:
            raise Refused("self")
        if person.disabled_at is not None:
            raise Refused("disabled")
        if scope.elsewhere(person):
            raise Refused("elsewhere")
        if _shared(scope, person):
            raise Refused("administrator")
        return person


def administered(session: Session, actor_id: str, number: str, today: date) -> SchoolScope:
    """This school as the actor sees it; NotFound unless they are an active administrator of it today."""
    if not isinstance(number, str) or not SCHOOL_NUMBER.match(number):
        raise NotFound("no such school")
    actor = session.get(Account, actor_id) if isinstance(actor_id, str) else None
    if actor is None or actor.disabled_at is not None:
        raise NotFound("no such school")
    school = next((s for s in administered_schools(session, actor_id, today) if s.number == number), None)
    if school is None:
        raise NotFound("no such school")
    return SchoolScope(session, school, today)


def managing_mandate(scope: SchoolScope, actor_id: str, person_id: str) -> Mandate | None:
    """An active mandate with `manage-account` for the person, held by this school or by the administrator."""
    query = select(Mandate).where(Mandate.represented_id == person_id, Mandate.state == "active")
    for mandate in scope.session.scalars(query):
        ours = mandate.actor_id == actor_id or (mandate.type == "school"
                                                and mandate.actor_school_id == scope.school.id)
        if ours and mandate.allows("manage-account") \
                and MandateStore.held(scope.session, mandate, scope.today).state == "active":
            return mandate
    return None


def _shared(scope: SchoolScope, person: Account) -> bool:
    """Whether a new password for the person would reach beyond this school's pupils and staff: they belong to
    another school too, or administer a school (their account opens that school's console)."""
    return scope.elsewhere(person) or bool(administered_schools(scope.session, person.id, scope.today))


def _locked_admins(scope: SchoolScope, actor_id: str) -> list:
    """The school's administrator memberships, locked until the transaction ends; then, with what others may
    have committed meanwhile, the actor must still be an active administrator (two administrators removing
    each other at the same moment cannot leave the school without one)."""
    admins = scope.admin_memberships(lock=True)
    if actor_id not in _active_admins(scope, {m.account_id for m in admins}):
        raise NotFound("no such school")
    return admins


def _active_admins(scope: SchoolScope, account_ids: set[str]) -> set[str]:
    """Those of `account_ids` whose account works, read afresh from the database (not the session's copies)."""
    if not account_ids:
        return set()
    return set(scope.session.scalars(select(Account.id).where(Account.id.in_(account_ids),
                                                              Account.disabled_at.is_(None))))


def _school(scope: SchoolScope) -> SchoolView:
    return SchoolView(scope.school.number, scope.school.name)


def _row(scope: SchoolScope, account: Account) -> PersonRow:
    """The person as this school sees them today: only this school's memberships count."""
    here = scope.current_memberships(account)
    return PersonRow(account.id, account.username, account.given_name, account.family_name,
                     tuple(dict.fromkeys(m.role for m in here)),
                     tuple(dict.fromkeys(m.class_name for m in here if m.class_name)),
                     account.disabled_at is None, any(m.is_admin for m in here))


def _platform_row(client_id: str, name: str, activation: SchoolActivation | None) -> PlatformRow:
    if activation is None:
        return PlatformRow(client_id, name, False, None, None, None)
    ended = activation.ended_at.astimezone(BRUSSELS).date() if activation.ended_at else None
    return PlatformRow(client_id, name, ended is None, activation.since, activation.agreement, ended)


def _class_row(found, size: int) -> ClassRow:
    return ClassRow(found.id, found.name, found.grade, school_year_label(found.school_year), size)


def _record(scope: SchoolScope, event: str, actor_id: str, person: Account, detail: dict | None = None) -> None:
    audit.record(scope.session, event, actor_id=actor_id, subject_id=person.id, school_id=scope.school.id,
                 detail={"school": scope.school.number, **(detail or {})})


def _letter(session: Session, scope: SchoolScope, person: Account) -> Letter:
    """A fresh first-login letter for the person, naming their class at this school."""
    class_name = next((m.class_name for m in scope.current_memberships(person) if m.class_name), None)
    return fresh_letter(session, person, class_name, scope.today)
