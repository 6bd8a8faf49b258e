"""A SCIM filter (RFC 7644 §3.4.2.2), as scim2-models parsed it, turned into SQL on the school's people.

scim2-models parses and checks the filter against the User resource; this walks its tree. Supported: the
operators eq, ne, co, sw, ew, gt, ge, lt, le and pr, with and, or, not and parentheses, on id, userName,
externalId, name.givenName, name.familyName, displayName, active, emails(.value), meta.created,
meta.lastModified and the education extension's role, className, grade, birthdate and schoolNumber.
Anything else (a value path such as emails[value co "x"], another attribute) is 400 invalidFilter.
Strings compare without regard to case, except id, externalId and className (caseExact).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import (
    Comparison,
    FilterVisitor,
    LogicalExpr,
    Not,
    Present,
    ValuePath,
)
from scim2_models.path.expressions import CompareOperator, LogicalOperator
from scim2_models.path.resolution import coerce_value
from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)

from idp.accounts import Account
from idp.audit import AuditEvent
from idp.db import UtcDateTime
from idp.directory import Membership, SchoolClass
from idp.school_scope import SchoolScope

CORE = "urn:ietf:params:scim:schemas:core:2.0:user:"
EDUCATION = "urn:leerid:params:scim:schemas:extension:education:2.0:user:"


def user_condition(scope: SchoolScope, scim_filter: ScimFilter) -> ColumnElement[bool]:
    """SQL on Account for the people the filter selects (the caller still limits them to the school)."""
    return UserQuery(scope, scim_filter).visit(scim_filter.ast)


def compare(column: Any, op: CompareOperator, value: Any) -> ColumnElement[bool]:
    if value is None:
        return column.is_(None) if op == CompareOperator.eq else column.is_not(None)
    operations = {
        CompareOperator.eq: lambda: column == value, CompareOperator.ne: lambda: column != value,
        CompareOperator.co: lambda: column.contains(value, autoescape=True),
        CompareOperator.sw: lambda: column.startswith(value, autoescape=True),
        CompareOperator.ew: lambda: column.endswith(value, autoescape=True),
        CompareOperator.gt: lambda: column > value, CompareOperator.ge: lambda: column >= value,
        CompareOperator.lt: lambda: column < value, CompareOperator.le: lambda: column <= value,
    }
    return operations[op]()


class UserQuery(FilterVisitor[ColumnElement[bool]]):
    def __init__(self, scope: SchoolScope, scim_filter: ScimFilter):
        self.scope = scope
        self.filter = scim_filter

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        raise InvalidFilterException(detail=f"value paths such as {node} are not supported")

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        binding = self.filter.resolve(node.attr_path)
        urn = binding.urn.casefold()
        if urn in (CORE + "active", CORE + "meta.created", CORE + "meta.lastmodified", EDUCATION + "schoolnumber"):
            return true()
        column, where = self._target(urn, node)
        return where(and_(column.is_not(None), column != "") if urn != EDUCATION + "grade" else column.is_not(None))

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        binding = self.filter.resolve_comparison(node.attr_path)
        urn = binding.urn.casefold()
        value = coerce_value(binding, node.value, node.op)
        if urn == CORE + "active":
            active = Account.disabled_at.is_(None)
            return active if (node.op == CompareOperator.eq) == bool(value) else not_(active)
        if urn == EDUCATION + "schoolnumber":
            return compare(literal(self.scope.school.number), node.op, value)
        if urn == EDUCATION + "birthdate":
            value = self._date(value, node)
        column, where = self._target(urn, node)
        if isinstance(value, str) and not binding.case_exact:
            column, value = func.lower(column), value.lower()
        return where(compare(column, node.op, value))

    def _target(self, urn: str, node: Any) -> tuple[Any, Any]:
        """The SQL column an attribute is, and how a condition on it becomes a condition on the person."""
        on_account = {
            CORE + "id": Account.id, CORE + "username": Account.username,
            CORE + "name.givenname": Account.given_name, CORE + "name.familyname": Account.family_name,
            CORE + "displayname": Account.given_name + " " + Account.family_name,
            CORE + "emails": Account.email, CORE + "emails.value": Account.email,
            CORE + "meta.created": Account.created_at, CORE + "meta.lastmodified": self._last_modified(),
            EDUCATION + "birthdate": Account.birthdate,
        }
        if urn in on_account:
            return on_account[urn], lambda condition: condition
        here = {CORE + "externalid": Membership.external_id, EDUCATION + "role": Membership.role}
        if urn in here:
            return here[urn], self.scope.member_where
        in_class = {EDUCATION + "classname": SchoolClass.name, EDUCATION + "grade": SchoolClass.grade}
        if urn in in_class:
            return in_class[urn], lambda condition: self.scope.member_where(
                Membership.class_id.in_(select(SchoolClass.id).where(condition)))
        raise InvalidFilterException(detail=f"filtering on {node.attr_path} is not supported")

    def _last_modified(self) -> Any:
        latest = select(func.max(AuditEvent.at)).where(
            AuditEvent.subject_id == Account.id, AuditEvent.school_id == self.scope.school.id).scalar_subquery()
        return type_coerce(func.coalesce(latest, Account.created_at), UtcDateTime)

    @staticmethod
    def _date(value: Any, node: Any) -> date:
        if node.op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
            raise InvalidFilterException(detail="birthdate compares with eq, ne, gt, ge, lt or le")
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise InvalidFilterException(detail=f"birthdate {value!r} is not a date (YYYY-MM-DD)") from None

