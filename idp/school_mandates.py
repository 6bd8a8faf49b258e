"""SchoolMandates: the mandates over a school's own people, as its administrators see and manage them in the
school console.

Like SchoolAdministration, every method names the acting administrator and the school's number, and checks in
the same transaction as its work that the actor administers that school today. Only mandates whose represented
person is a member of the school today are reachable: any other mandate is NotFound, exactly like one that does
not exist. Writes go through MandateStore, joined to the same transaction, and each is audited with the school.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clients.models import Client
from idp import audit
from idp.accounts import Account, AccountRepository
from idp.db import Database
from idp.directory import age_on
from idp.errors import NotFound
from idp.school_admin import (
    MAX_PAGE,
    MAX_SEARCH,
    PAGE_SIZE,
    Refused,
    SchoolView,
    administered,
)
from idp.school_scope import SchoolScope, name_matches
from mandates.links import fresh_link
from mandates.store import ADULT, Held, Mandate, MandateStore

MAX_WHO = 254  # characters of a username or an e-mail address


@dataclass(frozen=True)
class MandateRow:
    """A mandate over one of the school's people, as the console shows it."""

    id: int
    type: str  # parent, school, assistant
    person_id: str
    person_name: str
    actor: str | None  # the acting person's name; for a school mandate this school's name, None for another school
    actions: tuple[str, ...]
    platforms: tuple[str, ...] | None  # the platforms' names; None: every platform
    valid_from: date
    valid_until: date | None
    state: str  # active, proposed (waiting, or not begun yet), expired, revoked
    awaiting: tuple[str, ...]  # who still has to accept: actor, represented, school
    ours: bool  # not another school's school mandate

    @property
    def may_accept(self) -> bool:
        return self.state == "proposed" and "school" in self.awaiting

    @property
    def may_revoke(self) -> bool:
        return self.state in ("active", "proposed") and self.ours

    @property
    def may_print(self) -> bool:
        return self.type == "parent" and self.state == "proposed" and "actor:code" in self.awaiting


@dataclass(frozen=True)
class MandatePage:
    mandates: tuple[MandateRow, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class ParentLinks:
    """What the person's page offers: registering a parent (for a minor pupil), with the roster's suggestions."""

    may_link: bool
    suggestions: tuple[str, ...]  # the parents' e-mail addresses this school's roster gives


@dataclass(frozen=True)
class LinkLetter:
    school: SchoolView
    parent_name: str
    parent_username: str
    child_name: str
    code: str
    expires: date


class SchoolMandates:
    def __init__(self, db: Database, mandates: MandateStore, clock: Callable[[], date] = date.today):
        self.db = db
        self.mandates = mandates
        self.clock = clock

    # --- reading ---

    def page(self, actor_id: str, number: str, *, text: str = "", page: int = 1) -> MandatePage:
        """The mandates over today's people of the school, newest first, PAGE_SIZE a page; `text` searches the
        represented person's name."""
        page = min(max(page, 1), MAX_PAGE)
        with self.db.read() as session:
            scope = administered(session, actor_id, number, self.clock())
            query = select(Mandate).join(Account, Account.id == Mandate.represented_id) \
                .where(scope.member_where(), *name_matches(text[:MAX_SEARCH]))
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            found = list(session.scalars(query.order_by(Mandate.id.desc())
                                         .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
            names = _platform_names(session, {c for m in found for c in (m.clients or ())})
            rows = tuple(_row(scope, MandateStore.held(session, m, scope.today), names) for m in found)
            return MandatePage(rows, total, page, max(1, math.ceil(total / PAGE_SIZE)))

    def for_person(self, actor_id: str, number: str, account_id: str) -> ParentLinks:
        with self.db.read() as session:
            scope = administered(session, actor_id, number, self.clock())
            person = scope.person(account_id, current=True)
            may_link = _pupil(scope, person) and not _adult(person, scope.today)
            return ParentLinks(may_link, tuple(scope.parent_emails(person)) if may_link else ())

    # --- changing: one transaction per action, each audited ---

    def register_parent(self, actor_id: str, number: str, account_id: str, who: str) -> LinkLetter:
        """An existing leerID (found by username or e-mail address) becomes the pupil's parent once they accept
        with the letter's one-time code; the school registered it, so nobody else has to accept."""
        with self.db.transaction() as session:
            scope = administered(session, actor_id, number, self.clock())
            pupil = scope.person(account_id, current=True)
            if not _pupil(scope, pupil):
                raise Refused("not_pupil")
            if _adult(pupil, scope.today):
                raise Refused("adult")
            parent = _parent(session, who, scope.today)
            if parent.id == actor_id:
                raise Refused("own_link")  # another administrator registers a school administrator's child
            if parent.id == pupil.id:
                raise Refused("no_parent")
            if _linked(session, pupil, parent, scope.today):
                raise Refused("already_linked")
            held = self.mandates.within(session).propose(pupil.username, parent.username, "parent",
                                                         proposed_by=actor_id, by_school=True)
            _record(scope, "school_admin_mandate_registered", actor_id, held)
            return _letter(session, scope, held)

    def new_letter(self, actor_id: str, number: str, mandate_id: int) -> LinkLetter:
        """A new letter for a parent mandate that still waits for the parent; the earlier code stops working."""
        with self.db.transaction() as session:
            scope = administered(session, actor_id, number, self.clock())
            held = _ours(scope, mandate_id)
            if not _row(scope, held).may_print:
                raise Refused("no_letter_needed")
            _record(scope, "mandate_letter_issued", actor_id, held)
            return _letter(session, scope, held)

    def accept(self, actor_id: str, number: str, mandate_id: int) -> MandateRow:
        """The school accepts a parent mandate that someone else proposed for one of its pupils."""
        with self.db.transaction() as session:
            scope = administered(session, actor_id, number, self.clock())
            held = _ours(scope, mandate_id)
            if held.mandate.actor_id == actor_id:
                raise Refused("own_mandate")  # a school administrator never approves their own mandate
            if not _row(scope, held).may_accept:
                raise Refused("not_waiting")
            held = self.mandates.within(session).accept(held.mandate.id, actor_id, for_school=scope.school.id)
            _record(scope, "school_admin_mandate_accepted", actor_id, held)
            return _row(scope, held)

    def revoke(self, actor_id: str, number: str, mandate_id: int) -> MandateRow:
        """Ends a mandate over one of the school's people at once (another school's school mandate excepted)."""
        with self.db.transaction() as session:
            scope = administered(session, actor_id, number, self.clock())
            held = _ours(scope, mandate_id, lock=True)
            if held.state in ("revoked", "expired"):
                raise Refused("ended")
            if not _row(scope, held).ours:
                raise Refused("other_school")
            held = self.mandates.within(session).revoke(held.mandate.id, revoked_by=actor_id)
            _record(scope, "school_admin_mandate_revoked", actor_id, held)
            return _row(scope, held)


def _ours(scope: SchoolScope, mandate_id: int, lock: bool = False) -> Held:
    """A mandate over a person of this school today; any other is NotFound, like one that does not exist."""
    mandate = scope.session.get(Mandate, mandate_id, with_for_update=lock or None) \
        if isinstance(mandate_id, int) else None
    if mandate is None:
        raise NotFound("no such mandate at this school")
    scope.person(mandate.represented_id, current=True)
    return MandateStore.held(scope.session, mandate, scope.today)


def _pupil(scope: SchoolScope, person: Account) -> bool:
    return any(m.role == "pupil" for m in scope.current_memberships(person))


def _adult(person: Account, today: date) -> bool:
    return person.birthdate is not None and age_on(person.birthdate, today) >= ADULT


def _parent(session: Session, who: str, today: date) -> Account:
    """The one working, adult leerID with this username or e-mail address; never told apart: someone unknown,
    a minor or a deactivated account."""
    text = " ".join(who.split()).lower() if isinstance(who, str) else ""
    if not text or len(text) > MAX_WHO:
        raise Refused("no_parent_given" if not text else "no_parent")
    if "@" in text:
        found = list(session.scalars(select(Account).where(func.lower(Account.email) == text).limit(20)))
    else:
        found = [a for a in (AccountRepository(session).find_by_username(text),) if a is not None]
    found = [a for a in found if a.disabled_at is None and not _minor(a, today)]
    if len(found) > 1:
        raise Refused("several_parents")
    if not found:
        raise Refused("no_parent")
    return found[0]


def _minor(person: Account, today: date) -> bool:
    return person.birthdate is not None and age_on(person.birthdate, today) < ADULT


def _linked(session: Session, pupil: Account, parent: Account, today: date) -> bool:
    """Whether the parent already holds, or waits for, a parent mandate for the pupil."""
    query = select(Mandate).where(Mandate.type == "parent", Mandate.represented_id == pupil.id,
                                  Mandate.actor_id == parent.id, Mandate.state.in_(("active", "proposed")))
    return any(MandateStore.held(session, m, today).state in ("active", "proposed") for m in session.scalars(query))


def _letter(session: Session, scope: SchoolScope, held: Held) -> LinkLetter:
    code, expires = fresh_link(session, held.mandate.id, scope.today)
    return LinkLetter(SchoolView(scope.school.number, scope.school.name), held.actor.name, held.actor.username,
                      held.represented.name, code, expires)


def _platform_names(session: Session, client_ids: set[str]) -> dict[str, str]:
    if not client_ids:
        return {}
    return dict(session.execute(select(Client.client_id, Client.name).where(Client.client_id.in_(client_ids))))


def _row(scope: SchoolScope, held: Held, names: dict[str, str] | None = None) -> MandateRow:
    """The mandate as the console shows it; `names` of the platforms, else looked up."""
    m = held.mandate
    if names is None:
        names = _platform_names(scope.session, set(m.clients or ()))
    ours = m.type != "school" or m.actor_school_id == scope.school.id
    if m.type == "school":
        actor = scope.school.name if ours else None  # another school that acts for a shared pupil stays unnamed
    else:
        actor = held.actor.name if held.actor else None
    return MandateRow(m.id, m.type, held.represented.id, held.represented.name, actor, tuple(m.actions),
                      tuple(names.get(c, c) for c in m.clients) if m.clients else None, m.valid_from,
                      m.valid_until, held.state, tuple(m.awaiting or ()), ours)


def _record(scope: SchoolScope, event: str, actor_id: str, held: Held) -> None:
    audit.record(scope.session, event, actor_id=actor_id, subject_id=held.mandate.represented_id,
                 school_id=scope.school.id,
                 detail={"school": scope.school.number, "mandate": held.mandate.id, "type": held.mandate.type,
                         "to": held.mandate.actor_id})
