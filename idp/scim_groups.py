"""SCIM Groups: the school's classes of this school year; a Group's members are the people in that class today.

GroupOperations is part of idp.scim.Scim, whose `_school`, `_audit` and `_location` it uses.
"""
from __future__ import annotations

from typing import Any

from scim2_models import (
    ConflictException,
    Context,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    Resource,
    SearchRequest,
    UniquenessException,
)
from sqlalchemy import func, select

from idp.directory import Membership, SchoolClass, school_year
from idp.errors import NotFound
from idp.school_scope import SchoolScope
from idp.scim_people import class_name_of, move, primary
from idp.scim_schema import (
    MAX_COUNT,
    Caller,
    Group,
    Member,
    check_version,
    finish,
    page,
    parse,
    patched,
    search,
)


class GroupOperations:
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
        with self._school(caller, write=True) as scope:
            self._class_name_free(scope, name)
            school_class = SchoolClass(school=scope.school, school_year=school_year(scope.today), name=name)
            scope.session.add(school_class)
            scope.session.flush()
            self._audit(scope, caller, "scim_class_created", class_id=school_class.id, name=name)
            self._members(scope, caller, school_class, set(), {m.value for m in wanted.members or []})
            return self._group(scope, school_class)

    def replace_group(self, caller: Caller, group_id: str, payload: Any, if_match: str | None) -> Resource:
        wanted = parse(Group, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
        with self._school(caller, write=True) as scope:
            school_class = self._class(scope, group_id)
            current = self._group(scope, school_class)
            check_version(current, if_match)
            wanted.replace(current)
            return self._change_group(scope, caller, school_class, current, wanted)

    def patch_group(self, caller: Caller, group_id: str, payload: Any, if_match: str | None) -> Resource:
        with self._school(caller, write=True) as scope:
            school_class = self._class(scope, group_id)
            current = self._group(scope, school_class)
            check_version(current, if_match)
            return self._change_group(scope, caller, school_class, current, patched(Group, current, payload))

    def delete_group(self, caller: Caller, group_id: str, if_match: str | None) -> None:
        """Everyone leaves the class; the class goes, unless it had members before today (history stays)."""
        with self._school(caller, write=True) as scope:
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

    @staticmethod
    def _class(scope: SchoolScope, group_id: str) -> SchoolClass:
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
