"""SCIM 2.0 (RFC 7643/7644) for a school's administration software: its people as Users, its classes as Groups.

One school's software sees one school. Every person is read and changed through SchoolScope, so that someone
of another school is NotFound exactly like someone who does not exist. A User is a person with a current
membership here: `id` is the leerID account id, `userName` the leerID username (leerID chooses it), `externalId`
the school software's id of the person, and the education extension their role, class and birthdate here.
Resources and messages are in idp.scim_schema, Groups (the school's classes) in idp.scim_groups.

Choices (see README "SCIM"):
- POST enrols through RosterImporter.enrol, so that someone leerID already knows (name and birthdate) is matched,
  not duplicated, but only someone who belongs to no other school today; an uncertain match (several people, or
  someone of another school) goes on the helpdesk's review list and answers 409, the same answer in every case.
- Names, birthdate and e-mail live on the account, which every school of the person sees: for someone who also
  belongs to another school today they cannot be changed here (400 mutability; the helpdesk corrects them).
- DELETE /Users/{id} ends the person's memberships here; the account lives on.
- `active: false` (also on POST) deactivates the account when this school is the person's only school, and once
  that is stored their SSO sessions end with back-channel logouts to their platforms, as in the console and the
  command line; when they are also at another school it only ends their membership here (the answer is then 204). `active: true`
  reactivates only an account that this school deactivated (SchoolScope.deactivated_here).
- A change of class or role ends the membership and starts a new one (history is kept), except for a membership
  that began today, which is changed in place.
- A school's writes run one at a time (a lock on its row), so that checks such as "externalId not in use" see
  every earlier write; a clash the database still refuses (a username taken at the same moment) is 409, retry.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from scim2_models import (
    Context,
    ForbiddenException,
    ListResponse,
    MutabilityException,
    NotFoundException,
    Resource,
    SearchRequest,
    UniquenessException,
)
from sqlalchemy import true, update
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.accounts import Account, _disable
from idp.db import Database
from idp.directory import School, SchoolClass, school_year
from idp.errors import NotFound
from idp.roster import RosterRow
from idp.roster_import import RosterImporter
from idp.school_scope import SchoolScope
from idp.scim_filter import user_condition
from idp.scim_groups import GroupOperations
from idp.scim_people import (
    SHARED,
    checked_person,
    last_changes,
    modified_at,
    move,
    primary,
)
from idp.scim_schema import (
    MAX_COUNT,
    Caller,
    Education,
    Email,
    Name,
    Person,
    check_version,
    finish,
    page,
    parse,
    patched,
    search,
)

HELD = ("this person may already have a leerID: they are on the review list of the leerID helpdesk, who decides; "
        "try again once it is resolved")
HELD_WITHOUT_EXTERNAL_ID = "this person may already have a leerID: send their externalId, so that the leerID " \
                           "helpdesk can review it"
SHARED_FIELDS = ("this person also belongs to another school, which sees the same name, birthdate, e-mail address "
                 "and active state: only the leerID helpdesk changes those")
RETRY = "conflicting change, retry"
log = logging.getLogger("leerid.scim")


class Scim(GroupOperations):
    """The SCIM operations of one school's software; each request is one transaction."""

    def __init__(self, db: Database, importer: RosterImporter, base_url: str,
                 on_deactivate: Callable[[str], object] | None = None):
        """`on_deactivate(account_id)`: after the transaction that deactivated the account (ends its sessions)."""
        self.db = db
        self.importer = importer
        self.base_url = base_url.rstrip("/")
        self.on_deactivate = on_deactivate

    @contextmanager
    def _school(self, caller: Caller, *, write: bool = False) -> Iterator[SchoolScope]:
        """The school's directory in one transaction; `write` first takes the school's lock (PostgreSQL: its row,
        FOR NO KEY UPDATE; SQLite: the database's write lock) until the transaction ends. The accounts deactivated
        in it (`scope.deactivated`) are handed to on_deactivate once it is stored."""
        deactivated: list[str] = []
        try:
            with self.db.transaction() as session:
                if write:
                    session.execute(update(School).where(School.id == caller.school_id).values(name=School.name)
                                    .execution_options(synchronize_session=False))
                scope = SchoolScope(session, session.get(School, caller.school_id))
                scope.deactivated = deactivated
                yield scope
        except IntegrityError as exc:  # lost a race the checks could not see: nothing was written
            log.warning("SCIM write of %s refused by the database: %s", caller.client_id, type(exc.orig).__name__)
            raise UniquenessException(detail=RETRY) from None
        for account_id in deactivated if self.on_deactivate is not None else ():
            self.on_deactivate(account_id)

    def _location(self, endpoint: str, resource_id: str) -> str:
        return f"{self.base_url}/{endpoint}/{resource_id}"

    def _audit(self, scope: SchoolScope, caller: Caller, event: str, subject_id: str | None = None,
               **detail) -> None:
        audit.record(scope.session, event, client_id=caller.client_id, school_id=scope.school.id,
                     subject_id=subject_id, detail=detail)

    # --- Users ---

    def user(self, caller: Caller, account_id: str) -> Resource:
        with self._school(caller) as scope:
            return self._user(scope, self._person(scope, account_id))

    def users(self, caller: Caller, params: dict) -> tuple[ListResponse, SearchRequest]:
        request = search(Person, params)
        start, count = request.start_index or 1, min(MAX_COUNT, MAX_COUNT if request.count is None else request.count)
        with self._school(caller) as scope:
            condition = user_condition(scope, request.filter) if request.filter else true()
            people, total = scope.people_where(condition, offset=start - 1, limit=count)
            changes = last_changes(scope.session, scope.school.id, [p.id for p in people])
            return page(Person, [self._user(scope, p, changes) for p in people], total, start), request

    def create_user(self, caller: Caller, payload: Any) -> Resource | None:
        """The person, enrolled here; None when `active: false` only meant leaving (they are at another school)."""
        if isinstance(payload, dict) and "active" not in payload:
            payload = dict(payload, active=True)  # a client that says nothing creates an active account
        wanted = parse(Person, payload, Context.RESOURCE_CREATION_REQUEST)
        person = checked_person(wanted)
        with self._school(caller, write=True) as scope:
            self._external_id_free(scope, person["external_id"])
            row = RosterRow(0, person["external_id"], person["given_name"], person["family_name"],
                            person["birthdate"], person["role"], person["class_name"], None, person["email"], ())
            enrolment = self.importer.enrol(scope.session, scope.school, row, scope.today)
            if not enrolment.held:
                account = scope.person(enrolment.account_id, current=True)
                self._audit(scope, caller, "scim_user_created", account.id, created=enrolment.created)
                if not wanted.active and scope.elsewhere(account):
                    return self._leave(scope, caller, account, ["active"])
                if not wanted.active:
                    self._deactivate(scope, account)
                return self._user(scope, account)
            if person["external_id"] is None:  # the review list keeps rows by external id: nothing is kept
                raise UniquenessException(detail=HELD_WITHOUT_EXTERNAL_ID)
            self._audit(scope, caller, "scim_user_held", external_id=person["external_id"])
        raise UniquenessException(detail=HELD)

    def replace_user(self, caller: Caller, account_id: str, payload: Any, if_match: str | None) -> Resource | None:
        wanted = parse(Person, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
        with self._school(caller, write=True) as scope:
            account = self._person(scope, account_id)
            current = self._user(scope, account)
            check_version(current, if_match)
            wanted.replace(current)
            return self._change_user(scope, caller, account, current, wanted)

    def patch_user(self, caller: Caller, account_id: str, payload: Any, if_match: str | None) -> Resource | None:
        with self._school(caller, write=True) as scope:
            account = self._person(scope, account_id)
            current = self._user(scope, account)
            check_version(current, if_match)
            return self._change_user(scope, caller, account, current, patched(Person, current, payload))

    def delete_user(self, caller: Caller, account_id: str, if_match: str | None) -> None:
        """The person leaves this school (their memberships here end yesterday); the account stays."""
        with self._school(caller, write=True) as scope:
            account = self._person(scope, account_id)
            check_version(self._user(scope, account), if_match)
            ended = self.importer.leave(scope.session, scope.school, account.id, scope.today)
            self._audit(scope, caller, "scim_user_left", account.id, memberships=ended)

    @staticmethod
    def _person(scope: SchoolScope, account_id: str) -> Account:
        try:
            return scope.person(account_id, current=True)
        except NotFound:
            raise NotFoundException(detail="no such User") from None

    def _user(self, scope: SchoolScope, account: Account, changes: dict | None = None) -> Resource:
        membership = primary(scope.current_memberships(account))
        school_class = membership.school_class
        resource = Person(
            id=account.id, external_id=membership.external_id, user_name=account.username,
            name=Name(given_name=account.given_name, family_name=account.family_name),
            display_name=account.name, active=account.disabled_at is None,
            emails=[Email(value=account.email)] if account.email else None)
        resource[Education] = Education(
            school_number=scope.school.number, role=membership.role,
            class_name=school_class.name if school_class else None,
            grade=school_class.grade if school_class else None,
            birthdate=account.birthdate.isoformat() if account.birthdate else None)
        changes = last_changes(scope.session, scope.school.id, [account.id]) if changes is None else changes
        return finish(resource, "User", self._location("Users", account.id), account.created_at,
                      modified_at(account, changes))

    def _change_user(self, scope: SchoolScope, caller: Caller, account: Account, current: Resource,
                     wanted: Resource) -> Resource | None:
        """Store what differs between the User as it is and as the client wants it; None when they left."""
        person = checked_person(wanted)
        changed = [key for key in SHARED if getattr(account, key) != person[key]]
        if changed and scope.elsewhere(account):
            raise MutabilityException(detail=SHARED_FIELDS)
        for key in changed:
            setattr(account, key, person[key])
        changed += self._place(scope, account, person)
        if wanted.active != current.active:
            changed.append("active")
            if wanted.active:
                self._reactivate(scope, account)
            elif scope.elsewhere(account):
                return self._leave(scope, caller, account, changed)
            else:
                self._deactivate(scope, account)
        if changed:
            self._audit(scope, caller, "scim_user_changed", account.id, changed=sorted(changed))
        return self._user(scope, account)

    def _leave(self, scope: SchoolScope, caller: Caller, account: Account, changed: list[str]) -> None:
        """`active: false` for someone also at another school: only their membership here ends."""
        self.importer.leave(scope.session, scope.school, account.id, scope.today)
        self._audit(scope, caller, "scim_user_left", account.id, changed=sorted(changed))

    def _place(self, scope: SchoolScope, account: Account, person: dict) -> list[str]:
        """The person's role, class and external id here, as the client wants them."""
        membership = primary(scope.current_memberships(account))
        school_class = self._class_named(scope, person["class_name"])
        wanted = {"role": person["role"], "school_class": school_class, "external_id": person["external_id"]}
        changed = [key for key, value in wanted.items() if getattr(membership, key) != value]
        if "external_id" in changed:
            self._external_id_free(scope, person["external_id"])
        if changed:
            move(scope, membership, **wanted)
        return changed

    @staticmethod
    def _class_named(scope: SchoolScope, name: str | None) -> SchoolClass | None:
        if name is None:
            return None
        found = next((c for c in scope.classes() if c.name == name), None)
        if found is None:
            found = SchoolClass(school=scope.school, school_year=school_year(scope.today), name=name)
            scope.session.add(found)
            scope.session.flush()
        return found

    @staticmethod
    def _external_id_free(scope: SchoolScope, external_id: str | None) -> None:
        if external_id is None:
            return
        try:
            scope.person_by_external_id(external_id, current=True)
        except NotFound:
            return
        raise UniquenessException(detail=f"another User of this school has externalId {external_id!r}")

    @staticmethod
    def _deactivate(scope: SchoolScope, account: Account) -> None:
        if account.disabled_at is None:
            _disable(scope.session, account, None,
                     f"deactivated by the administration software of school {scope.school.number}",
                     school_id=scope.school.id)
            scope.deactivated.append(account.id)  # its sessions end once this is stored (_school)

    @staticmethod
    def _reactivate(scope: SchoolScope, account: Account) -> None:
        """Only an account that this school deactivated comes back, and only while it is this school's alone;
        leerID's operators and the leavers' sweep decide about the others."""
        if not scope.deactivated_here(account):
            raise ForbiddenException(detail="this account was not deactivated by this school: ask the leerID "
                                            "helpdesk")
        if scope.elsewhere(account):
            raise MutabilityException(detail=SHARED_FIELDS)
        account.disabled_at = None
        audit.record(scope.session, "account_reactivated", subject_id=account.id, school_id=scope.school.id)
