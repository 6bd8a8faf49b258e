"""SchoolScope: the directory as one school sees it.

Every query here is limited to people who have (or had) a membership at that one school, and shows only
that school's memberships. The school console and SCIM read and change people through this class only,
so that a school never reaches, or learns of, another school's pupils: someone who is not theirs is
`NotFound`, exactly like someone who does not exist.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, lazyload

from clients.activations import SchoolActivation
from clients.models import Client
from idp.accounts import Account
from idp.audit import AuditEvent
from idp.directory import (
    Membership,
    ParentEmail,
    School,
    SchoolClass,
    current_on,
    school_year,
)
from idp.errors import NotFound


def name_matches(search: str) -> list[ColumnElement[bool]]:
    """SQL on Account for each of the first four words of `search`: found in the username, given or family name."""
    conditions = []
    for word in search.strip().lower().split()[:4]:
        pattern = f"%{word.replace('%', '').replace('_', '')}%"
        conditions.append(or_(func.lower(Account.username).like(pattern),
                              func.lower(Account.given_name).like(pattern),
                              func.lower(Account.family_name).like(pattern)))
    return conditions


# A platform a school may take on: one on a school agreement, never a school's own provisioning client.
SCHOOL_PLATFORM = and_(Client.basis == "school-agreement", Client.school_id.is_(None))


def administered_schools(session: Session, account_id: str, today: date) -> list[School]:
    """The schools this person administers today, by number."""
    query = select(School).join(Membership, Membership.school_id == School.id).where(
        Membership.account_id == account_id, Membership.is_admin.is_(True), current_on(today)
    ).distinct().order_by(School.number)
    return list(session.scalars(query))


class SchoolScope:
    def __init__(self, session: Session, school: School, today: date | None = None):
        self.session = session
        self.school = school
        self.today = today or date.today()

    @classmethod
    def of(cls, session: Session, number: str, today: date | None = None) -> SchoolScope:
        school = session.scalar(select(School).where(School.number == number))
        if school is None:
            raise NotFound(f"no school with number {number}")
        return cls(session, school, today)

    # --- people ---

    def _here(self, *, current: bool) -> ColumnElement[bool]:
        condition = Membership.school_id == self.school.id
        return and_(condition, current_on(self.today)) if current else condition

    def people(self, *, search: str = "", role: str | tuple[str, ...] | None = None, class_id: int | None = None,
               current: bool = True, offset: int = 0, limit: int = 50) -> tuple[list[Account], int]:
        """People of this school (today's, or everyone who ever was), by family name; and how many in all.

        `role` is one role or several (e.g. teachers and staff together)."""
        members = select(Membership.account_id).where(self._here(current=current))
        if role:
            members = members.where(Membership.role.in_((role,) if isinstance(role, str) else tuple(role)))
        if class_id is not None:
            members = members.where(Membership.class_id == class_id)
        query = select(Account).where(Account.id.in_(members), *name_matches(search))
        total = self.session.scalar(select(func.count()).select_from(query.subquery()))
        page = query.order_by(Account.family_name, Account.given_name, Account.username).offset(offset).limit(limit)
        return list(self.session.scalars(page)), total or 0

    def member_where(self, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        """SQL on Account for: the person has a membership here today that meets `conditions` (SQL on Membership)."""
        return Account.id.in_(select(Membership.account_id).where(self._here(current=True), *conditions))

    def people_where(self, condition: ColumnElement[bool], *, offset: int = 0,
                     limit: int = 50) -> tuple[list[Account], int]:
        """Today's people of this school for whom `condition` (SQL on Account) holds, by name; how many in all."""
        query = select(Account).where(self.member_where(), condition)
        total = self.session.scalar(select(func.count()).select_from(query.subquery()))
        page = query.order_by(Account.family_name, Account.given_name, Account.username, Account.id)
        return list(self.session.scalars(page.offset(offset).limit(limit))), total or 0

    def person(self, account_id: str, *, current: bool = False) -> Account:
        """A person of this school (with `current`: a member today); anyone else is NotFound."""
        if not isinstance(account_id, str) or len(account_id) > 36:
            raise NotFound("no such person at this school")
        found = self.session.scalar(select(Account).where(
            Account.id == account_id,
            Account.id.in_(select(Membership.account_id).where(self._here(current=current)))))
        if found is None:
            raise NotFound("no such person at this school")
        return found

    def person_by_username(self, username: str, *, current: bool = False) -> Account:
        account = self.session.scalar(select(Account).where(Account.username == username.strip().lower()))
        if account is None:
            raise NotFound("no such person at this school")
        return self.person(account.id, current=current)

    def person_by_external_id(self, external_id: str, *, current: bool = True) -> Account:
        account_id = self.session.scalar(select(Membership.account_id).where(
            self._here(current=current), Membership.external_id == external_id).limit(1))
        if account_id is None:
            raise NotFound("no such person at this school")
        return self.person(account_id, current=current)

    def memberships(self, account: Account) -> list[Membership]:
        """This school's memberships of the person, oldest first: never another school's."""
        return list(self.session.scalars(select(Membership).where(
            Membership.account_id == account.id, Membership.school_id == self.school.id
        ).order_by(Membership.valid_from, Membership.id)))

    def current_memberships(self, account: Account) -> list[Membership]:
        return [m for m in self.memberships(account) if m.current(self.today)]

    def parent_emails(self, account: Account) -> list[str]:
        """The parents' e-mail addresses this school's roster gives for the person: never another school's."""
        return list(self.session.scalars(select(ParentEmail.email).where(
            ParentEmail.account_id == account.id, ParentEmail.school_id == self.school.id).order_by(ParentEmail.email)))

    def elsewhere(self, account: Account) -> bool:
        """Whether the person is also a member of another school today (whose data this school never sees)."""
        return self.session.scalar(select(func.count()).select_from(Membership).where(
            Membership.account_id == account.id, Membership.school_id != self.school.id,
            current_on(self.today))) > 0

    def admin_memberships(self, *, lock: bool = False) -> list[Membership]:
        """Today's administrator memberships of this school; `lock` holds them until the transaction ends, so that
        two administrators removing each other at once cannot leave the school without one."""
        query = select(Membership).where(self._here(current=True), Membership.is_admin.is_(True)) \
            .order_by(Membership.id)
        if lock:  # no eager outer joins: PostgreSQL locks no row on the nullable side of one
            query = query.options(lazyload(Membership.school), lazyload(Membership.school_class)) \
                .with_for_update(of=Membership)
        return list(self.session.scalars(query))

    def deactivated_here(self, account: Account) -> bool:
        """Whether this school (its console or its software) deactivated the account, so it may undo that.

        An account that leerID's operators or the leavers' sweep deactivated is not the school's to undo.
        """
        last = self.session.scalar(select(AuditEvent.school_id).where(
            AuditEvent.event == "account_deactivated", AuditEvent.subject_id == account.id
        ).order_by(AuditEvent.seq.desc()).limit(1))
        return account.disabled_at is not None and last == self.school.id

    def administrators(self) -> list[Account]:
        members = select(Membership.account_id).where(self._here(current=True), Membership.is_admin.is_(True))
        return list(self.session.scalars(select(Account).where(Account.id.in_(members))
                                         .order_by(Account.family_name, Account.given_name)))

    # --- classes ---

    def classes(self, year: int | None = None) -> list[SchoolClass]:
        """The school's classes of a school year (default: this one), by name."""
        year = school_year(self.today) if year is None else year
        return list(self.session.scalars(select(SchoolClass).where(
            SchoolClass.school_id == self.school.id, SchoolClass.school_year == year).order_by(SchoolClass.name)))

    def school_class(self, class_id: int) -> SchoolClass:
        found = self.session.get(SchoolClass, class_id) if isinstance(class_id, int) else None
        if found is None or found.school_id != self.school.id:
            raise NotFound("no such class at this school")
        return found

    def class_sizes(self, classes: list[SchoolClass]) -> dict[int, int]:
        """How many people are in each of these classes of this school today, by class id."""
        ids = [c.id for c in classes if c.school_id == self.school.id]
        rows = self.session.execute(select(Membership.class_id, func.count(func.distinct(Membership.account_id)))
                                    .where(self._here(current=True), Membership.class_id.in_(ids))
                                    .group_by(Membership.class_id)) if ids else []
        return {class_id: count for class_id, count in rows}

    def class_members(self, school_class: SchoolClass) -> list[Account]:
        if school_class.school_id != self.school.id:
            raise NotFound("no such class at this school")
        members = select(Membership.account_id).where(self._here(current=True), Membership.class_id == school_class.id)
        return list(self.session.scalars(select(Account).where(Account.id.in_(members))
                                         .order_by(Account.family_name, Account.given_name)))

    # --- platforms ---

    def platforms(self) -> list[tuple[str, str, SchoolActivation | None]]:
        """The platforms a school may take on, by name: (client_id, name, this school's activation or None).
        Another school's activations never join in."""
        ours = and_(SchoolActivation.client_id == Client.client_id, SchoolActivation.school_id == self.school.id)
        return list(self.session.execute(select(Client.client_id, Client.name, SchoolActivation)
                                         .outerjoin(SchoolActivation, ours).where(SCHOOL_PLATFORM)
                                         .order_by(Client.name, Client.client_id)))

    def platform(self, client_id: str, *, lock: bool = False) -> tuple[str, str, SchoolActivation | None]:
        """One platform this school may take on, like a row of `platforms()`; any other client is NotFound.
        `lock` holds this school's activation until the transaction ends."""
        if not isinstance(client_id, str) or len(client_id) > 64:
            raise NotFound("no such platform")
        found = self.session.execute(select(Client.client_id, Client.name).where(
            SCHOOL_PLATFORM, Client.client_id == client_id)).one_or_none()
        if found is None:
            raise NotFound("no such platform")
        query = select(SchoolActivation).where(SchoolActivation.client_id == client_id,
                                               SchoolActivation.school_id == self.school.id)
        activation = self.session.scalar(query.with_for_update() if lock else query)
        return found.client_id, found.name, activation
