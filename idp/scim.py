"""SCIM 2.0 (RFC 7643/7644) for a school's administration software: its people as Users, its classes as Groups.

One school's software sees one school. Every person is read and changed through SchoolScope, so that someone
of another school is NotFound exactly like someone who does not exist. A User is a person with a current
membership here: `id` is the leerID account id, `userName` the leerID username (leerID chooses it), `externalId`
the school software's id of the person, and the education extension their role, class and birthdate here.
A Group is one of the school's classes of this school year; its members are the people in that class today.

Choices (see README "SCIM"):
- POST enrols through RosterImporter.enrol, so that someone leerID already knows (name and birthdate) is matched,
  not duplicated; an uncertain match goes on the helpdesk's review list and answers 409.
- DELETE /Users/{id} ends the person's memberships here; the account lives on.
- `active: false` deactivates the account when this school is the person's only school; when they are also at
  another school it only ends their membership here (the answer is then 204). `active: true` reactivates only an
  account that this school's software deactivated.
- A change of class or role ends the membership and starts a new one (history is kept), except for a membership
  that began today, which is changed in place.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ConflictException,
    Context,
    Error,
    ETag,
    Extension,
    Filter,
    ForbiddenException,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    Meta,
    Mutability,
    NotFoundException,
    Patch,
    PatchOp,
    PreconditionFailedException,
    Reference,
    Required,
    Resource,
    ResourceType,
    Returned,
    Schema,
    SCIMException,
    ScimProvider,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
    UniquenessException,
)
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from idp import audit
from idp.accounts import EMAIL, Account, _disable
from idp.audit import AuditEvent
from idp.db import Database
from idp.directory import Membership, School, SchoolClass, school_year
from idp.errors import NotFound
from idp.roster import RosterRow, day_before
from idp.roster_import import RosterImporter
from idp.school_scope import SchoolScope
from idp.scim_filter import user_condition

EDUCATION = "urn:leerid:params:scim:schemas:extension:education:2.0:User"
ROLES = ("pupil", "teacher", "staff")
MAX_COUNT = 200


class Name(ComplexAttribute):
    given_name: Annotated[str | None, Required.true] = None
    family_name: Annotated[str | None, Required.true] = None


class Email(ComplexAttribute):
    value: Annotated[str | None, Required.true] = None


class Education(Extension):
    """leerID's education extension: the person's place at this school."""

    __schema__ = URN(EDUCATION)

    school_number: Annotated[str | None, Mutability.read_only, Returned.request, CaseExact.true] = Field(
        None, description="The school's number (instellingsnummer): the token's school; returned on request.")
    role: Annotated[str | None, Required.true] = Field(
        None, examples=list(ROLES), description="pupil, teacher or staff.")
    class_name: Annotated[str | None, CaseExact.true] = Field(
        None, description="The class of this school year; a new name makes a new class.")
    grade: Annotated[int | None, Mutability.read_only] = Field(None, description="The class's grade (leerjaar).")
    birthdate: Annotated[str | None, Required.true] = Field(
        None, examples=["2014-03-21", "1986-11-02"], description="YYYY-MM-DD.")


class User(Resource[Any]):
    """A pupil, teacher or staff member of the school."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Mutability.read_only, Returned.always, Uniqueness.server] = Field(
        None, description="The leerID username: leerID chooses it (voornaam.familienaam) and ignores one sent.")
    name: Annotated[Name | None, Required.true] = None
    display_name: Annotated[str | None, Mutability.read_only] = None
    active: Annotated[bool | None, Required.true] = None
    emails: list[Email] | None = Field(None, description="At most one address.")


class Member(ComplexAttribute):
    value: Annotated[str | None, Required.true, Mutability.immutable, CaseExact.true] = None
    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(  # noqa: UP037 - a SCIM type name
        None, serialization_alias="$ref", validation_alias="$ref")


class Group(Resource[Any]):
    """A class of the school in this school year."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")

    external_id: Annotated[str | None, Mutability.read_only, CaseExact.true] = None  # classes keep none
    display_name: Annotated[str | None, Required.true] = Field(None, description="The class's name.")
    members: list[Member] | None = None


Person = User[Annotated[Education, Required.true]]
CONFIG = ServiceProviderConfig(
    documentation_uri=None, patch=Patch(supported=True), bulk=Bulk(supported=False, max_operations=0,
                                                                    max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_COUNT), change_password=ChangePassword(supported=False),
    sort=Sort(supported=False), etag=ETag(supported=True),
    authentication_schemes=[AuthenticationScheme(
        type="oauthbearertoken", name="OAuth Bearer Token", primary=True,
        description="An access token of the school's provisioning client (client_credentials, scope scim).")])
PROVIDER = ScimProvider(models=[User, Education, Group], config=CONFIG, resource_types=[
    ResourceType.from_resource(Person), ResourceType.from_resource(Group)])
SCHEMAS = [*PROVIDER.schemas, Schema.to_schema(), ResourceType.to_schema(), ServiceProviderConfig.to_schema()]


@dataclass(frozen=True)
class Caller:
    """Who calls: a school's provisioning client."""

    client_id: str
    school_id: int


# --- reading and writing resources -------------------------------------------------------------------------


def parse(model: type, payload: Any, context: Context):
    """A request body as a scim2-models object, or a SCIM error (400) saying what is wrong."""
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    try:
        return model.model_validate(payload, scim_ctx=context, scim_provider=PROVIDER)
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_error(exc.errors()[0])) from None


def search(model: type, params: dict) -> SearchRequest:
    """The query parameters of a list request (filter, startIndex, count, attributes)."""
    request = parse(SearchRequest[model], {k: v for k, v in params.items() if v is not None}, Context.SEARCH_REQUEST)
    if request.sort_by:
        raise InvalidValueException(detail="sorting is not supported")
    return request


def page(model: type, resources: list, total: int, start: int) -> ListResponse:
    return ListResponse[model](total_results=total, start_index=start, items_per_page=len(resources),
                               resources=resources)


def version_of(resource: Resource) -> str:
    """A weak ETag of what the resource says (meta left out): it changes whenever the resource does."""
    body = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, exclude={"meta"})
    return 'W/"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20] + '"'


def check_version(resource: Resource, if_match: str | None) -> None:
    """RFC 7644 §3.14: a change under If-Match applies only to the version the client has seen."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {tag.strip() for tag in if_match.split(",")}
    current = resource.meta.version
    if current not in wanted and current.removeprefix("W/") not in {t.removeprefix("W/") for t in wanted}:
        raise PreconditionFailedException(detail="the resource changed since you read it (If-Match)")


def finish(resource: Resource, resource_type: str, location: str, created: datetime | None = None,
           modified: datetime | None = None) -> Resource:
    resource.meta = Meta(resource_type=resource_type, location=location, created=created, last_modified=modified)
    resource.meta.version = version_of(resource)
    return resource


def patched(model: type, resource: Resource, payload: Any) -> Resource:
    """The resource as the PATCH operations (RFC 7644 §3.5.2) leave it; nothing is stored yet."""
    operations = parse(PatchOp[model], payload, Context.RESOURCE_PATCH_REQUEST)
    wanted = resource.model_copy(deep=True)
    operations.patch(wanted)
    return wanted


def birthdate_of(text: str | None) -> date:
    try:
        born = date.fromisoformat(text or "")
    except ValueError:
        raise InvalidValueException(detail=f"birthdate {text!r} is not a date (YYYY-MM-DD)") from None
    if not date(1900, 1, 1) <= born <= date.today():
        raise InvalidValueException(detail=f"birthdate {born.isoformat()} is not a possible birthdate")
    return born


def checked_person(wanted: Resource) -> dict:
    """The account fields and the membership a User resource asks for, checked like a roster row."""
    education = wanted[Education]
    fields = {"given_name": (wanted.name.given_name or "").strip(), "family_name": (wanted.name.family_name or "")
              .strip(), "birthdate": birthdate_of(education.birthdate), "email": email_of(wanted.emails)}
    for key in ("given_name", "family_name"):
        if not 0 < len(fields[key]) <= 100:
            raise InvalidValueException(detail=f"name.{key.replace('_n', 'N')} must be 1 to 100 characters")
    if education.role not in ROLES:
        raise InvalidValueException(detail=f"role must be one of {', '.join(ROLES)}, not {education.role!r}")
    class_name = (education.class_name or "").strip() or None
    if class_name is not None and len(class_name) > 64:
        raise InvalidValueException(detail="className is longer than 64 characters")
    external_id = wanted.external_id
    if external_id is not None and not 0 < len(external_id) <= 64:
        raise InvalidValueException(detail="externalId must be 1 to 64 characters")
    return dict(fields, role=education.role, class_name=class_name, external_id=external_id)


def email_of(emails: list[Email] | None) -> str | None:
    values = [e.value for e in emails or [] if e.value]
    if len(values) > 1:
        raise InvalidValueException(detail="leerID keeps one e-mail address per person")
    if values and (not EMAIL.match(values[0]) or len(values[0]) > 254):
        raise InvalidValueException(detail=f"{values[0]!r} is not an e-mail address")
    return values[0] if values else None


def last_changes(session: Session, school_id: int, account_ids: list[str]) -> dict[str, datetime]:
    """When this school last changed each person (the latest audit record about them at this school)."""
    if not account_ids:
        return {}
    rows = session.execute(select(AuditEvent.subject_id, func.max(AuditEvent.at)).where(
        AuditEvent.school_id == school_id, AuditEvent.subject_id.in_(account_ids)).group_by(AuditEvent.subject_id))
    return dict(rows.all())


def modified_at(account: Account, changes: dict[str, datetime]) -> datetime:
    return max(filter(None, (account.created_at, changes.get(account.id))))


def primary(memberships: list[Membership]) -> Membership:
    """The membership a User shows: the latest of the person's current ones here."""
    return max(memberships, key=lambda m: (m.valid_from, m.id or 0))


def move(scope: SchoolScope, membership: Membership, **values) -> None:
    """A new class, role or external id: the membership ends and a new one begins (history is kept), except
    that one which began today is changed in place."""
    if membership.valid_from >= scope.today:
        for key, value in values.items():
            setattr(membership, key, value)
        return
    until, membership.valid_until = membership.valid_until, day_before(scope.today)
    fields = {"role": membership.role, "school_class": membership.school_class,
              "external_id": membership.external_id, **values}
    scope.session.add(Membership(account_id=membership.account_id, school_id=membership.school_id,
                                 is_admin=membership.is_admin, valid_from=scope.today, valid_until=until, **fields))


def class_name_of(text: str | None) -> str:
    name = (text or "").strip()
    if not 0 < len(name) <= 64:
        raise InvalidValueException(detail="displayName (the class's name) must be 1 to 64 characters")
    return name


class Scim:
    """The SCIM operations of one school's software; each request is one transaction."""

    def __init__(self, db: Database, importer: RosterImporter, base_url: str):
        self.db = db
        self.importer = importer
        self.base_url = base_url.rstrip("/")

    @contextmanager
    def _school(self, caller: Caller) -> Iterator[SchoolScope]:
        with self.db.transaction() as session:
            yield SchoolScope(session, session.get(School, caller.school_id))

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

    def create_user(self, caller: Caller, payload: Any) -> Resource:
        if isinstance(payload, dict) and "active" not in payload:
            payload = dict(payload, active=True)  # a client that says nothing creates an active account
        wanted = parse(Person, payload, Context.RESOURCE_CREATION_REQUEST)
        person = checked_person(wanted)
        with self._school(caller) as scope:
            self._external_id_free(scope, person["external_id"])
            row = RosterRow(0, person["external_id"], person["given_name"], person["family_name"],
                            person["birthdate"], person["role"], person["class_name"], None, person["email"], ())
            enrolment = self.importer.enrol(scope.session, scope.school, row, scope.today)
            if not enrolment.held:
                account = scope.person(enrolment.account_id, current=True)
                if not wanted.active:
                    self._deactivate(scope, account)
                self._audit(scope, caller, "scim_user_created", account.id, created=enrolment.created)
                return self._user(scope, account)
            self._audit(scope, caller, "scim_user_held", external_id=person["external_id"])
        raise UniquenessException(detail="several leerIDs have this name and birthdate; the person is on the "
                                         "review list and the school's helpdesk must resolve it")

    def replace_user(self, caller: Caller, account_id: str, payload: Any, if_match: str | None) -> Resource | None:
        wanted = parse(Person, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
        with self._school(caller) as scope:
            account = self._person(scope, account_id)
            current = self._user(scope, account)
            check_version(current, if_match)
            wanted.replace(current)
            return self._change_user(scope, caller, account, current, wanted)

    def patch_user(self, caller: Caller, account_id: str, payload: Any, if_match: str | None) -> Resource | None:
        with self._school(caller) as scope:
            account = self._person(scope, account_id)
            current = self._user(scope, account)
            check_version(current, if_match)
            return self._change_user(scope, caller, account, current, patched(Person, current, payload))

    def delete_user(self, caller: Caller, account_id: str, if_match: str | None) -> None:
        """The person leaves this school (their memberships here end yesterday); the account stays."""
        with self._school(caller) as scope:
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
        changed = [key for key in ("given_name", "family_name", "birthdate", "email")
                   if getattr(account, key) != person[key]]
        for key in changed:
            setattr(account, key, person[key])
        changed += self._place(scope, account, person)
        if wanted.active != current.active:
            changed.append("active")
            if wanted.active:
                self._reactivate(scope, account)
            elif scope.elsewhere(account):
                self.importer.leave(scope.session, scope.school, account.id, scope.today)
                self._audit(scope, caller, "scim_user_left", account.id, changed=sorted(changed))
                return None
            else:
                self._deactivate(scope, account)
        if changed:
            self._audit(scope, caller, "scim_user_changed", account.id, changed=sorted(changed))
        return self._user(scope, account)

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

    def _deactivation_reason(self, scope: SchoolScope) -> str:
        return f"deactivated by the administration software of school {scope.school.number}"

    def _deactivate(self, scope: SchoolScope, account: Account) -> None:
        if account.disabled_at is None:
            _disable(scope.session, account, None, self._deactivation_reason(scope))

    def _reactivate(self, scope: SchoolScope, account: Account) -> None:
        """Only an account that this school's software deactivated comes back; leerID's operators and the
        leavers' sweep decide about the others."""
        last = scope.session.scalar(select(AuditEvent).where(
            AuditEvent.event == "account_deactivated", AuditEvent.subject_id == account.id)
            .order_by(AuditEvent.seq.desc()).limit(1))
        if last is None or last.detail.get("reason") != self._deactivation_reason(scope):
            raise ForbiddenException(detail="this account was deactivated by leerID, not by this school: "
                                            "ask the leerID helpdesk")
        account.disabled_at = None
        audit.record(scope.session, "account_reactivated", subject_id=account.id, school_id=scope.school.id)

    # --- Groups: the classes of this school year ---

    def group(self, caller: Caller, group_id: str) -> Resource:
        with self._school(caller) as scope:
            return self._group(scope, self._class(scope, group_id))

    def groups(self, caller: Caller, params: dict) -> tuple[ListResponse, SearchRequest]:
        """Few enough per school to filter in memory, with scim2-models' own reading of the filter."""
        request = search(Group, params)
        start, count = request.start_index or 1, min(MAX_COUNT, MAX_COUNT if request.count is None else request.count)
        with self._school(caller) as scope:
            found = [self._group(scope, c) for c in scope.classes()]
        if request.filter:
            found = [g for g in found if request.filter.match(g)]
        return page(Group, found[start - 1:start - 1 + count], len(found), start), request

    def create_group(self, caller: Caller, payload: Any) -> Resource:
        wanted = parse(Group, payload, Context.RESOURCE_CREATION_REQUEST)
        name = class_name_of(wanted.display_name)
        with self._school(caller) as scope:
            self._class_name_free(scope, name)
            school_class = SchoolClass(school=scope.school, school_year=school_year(scope.today), name=name)
            scope.session.add(school_class)
            scope.session.flush()
            self._audit(scope, caller, "scim_class_created", class_id=school_class.id, name=name)
            self._members(scope, caller, school_class, set(), {m.value for m in wanted.members or []})
            return self._group(scope, school_class)

    def replace_group(self, caller: Caller, group_id: str, payload: Any, if_match: str | None) -> Resource:
        wanted = parse(Group, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
        with self._school(caller) as scope:
            school_class = self._class(scope, group_id)
            current = self._group(scope, school_class)
            check_version(current, if_match)
            wanted.replace(current)
            return self._change_group(scope, caller, school_class, current, wanted)

    def patch_group(self, caller: Caller, group_id: str, payload: Any, if_match: str | None) -> Resource:
        with self._school(caller) as scope:
            school_class = self._class(scope, group_id)
            current = self._group(scope, school_class)
            check_version(current, if_match)
            return self._change_group(scope, caller, school_class, current, patched(Group, current, payload))

    def delete_group(self, caller: Caller, group_id: str, if_match: str | None) -> None:
        """Everyone leaves the class; the class goes, unless it had members before today (history stays)."""
        with self._school(caller) as scope:
            school_class = self._class(scope, group_id)
            current = self._group(scope, school_class)
            check_version(current, if_match)
            self._members(scope, caller, school_class, {m.value for m in current.members or []}, set())
            scope.session.flush()
            if scope.session.scalar(select(func.count()).select_from(Membership).where(
                    Membership.class_id == school_class.id)):
                raise ConflictException(detail="this class had members before today and stays in their history; "
                                               "give it no members instead")
            self._audit(scope, caller, "scim_class_deleted", class_id=school_class.id, name=school_class.name)
            scope.session.delete(school_class)

    def _class(self, scope: SchoolScope, group_id: str) -> SchoolClass:
        try:
            found = scope.school_class(int(group_id)) if group_id.isdigit() and len(group_id) < 12 else None
        except NotFound:
            found = None
        if found is None or found.school_year != school_year(scope.today):
            raise NotFoundException(detail="no such Group")
        return found

    def _group(self, scope: SchoolScope, school_class: SchoolClass) -> Resource:
        members = [Member(value=a.id, ref=self._location("Users", a.id)) for a in scope.class_members(school_class)]
        resource = Group(id=str(school_class.id), display_name=school_class.name, members=members or None)
        return finish(resource, "Group", self._location("Groups", resource.id))

    def _change_group(self, scope: SchoolScope, caller: Caller, school_class: SchoolClass, current: Resource,
                      wanted: Resource) -> Resource:
        name = class_name_of(wanted.display_name)
        if name != school_class.name:
            self._class_name_free(scope, name)
            self._audit(scope, caller, "scim_class_renamed", class_id=school_class.id, name=name,
                        was=school_class.name)
            school_class.name = name
        self._members(scope, caller, school_class, {m.value for m in current.members or []},
                      {m.value for m in wanted.members or []})
        return self._group(scope, school_class)

    def _members(self, scope: SchoolScope, caller: Caller, school_class: SchoolClass, before: set[str],
                 after: set[str]) -> None:
        """Who joins the class moves into it (from their class here, if any); who leaves it is in no class."""
        for account_id in sorted(after - before):
            try:
                account = scope.person(account_id, current=True)
            except NotFound:
                raise InvalidValueException(detail=f"members: no User {account_id[:40]!r} at this school") from None
            move(scope, primary(scope.current_memberships(account)), school_class=school_class)
            self._audit(scope, caller, "scim_user_changed", account.id, changed=["school_class"],
                        class_name=school_class.name)
        for account_id in sorted(before - after):
            account = scope.person(account_id, current=True)
            for membership in scope.current_memberships(account):
                if membership.class_id == school_class.id:
                    move(scope, membership, school_class=None)
            self._audit(scope, caller, "scim_user_changed", account.id, changed=["school_class"], class_name=None)

    @staticmethod
    def _class_name_free(scope: SchoolScope, name: str) -> None:
        if any(c.name == name for c in scope.classes()):
            raise UniquenessException(detail=f"this school already has a class {name!r} this school year")
