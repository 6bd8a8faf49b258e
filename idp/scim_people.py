"""A SCIM User as leerID stores it: fields of the Account (shared by every school the person belongs to) and the
person's Membership at this school (role, class, external id), checked like a roster row.
"""
from __future__ import annotations

from datetime import date, datetime

from scim2_models import InvalidValueException, Resource
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idp.accounts import EMAIL, Account
from idp.audit import AuditEvent
from idp.directory import Membership
from idp.roster import day_before
from idp.school_scope import SchoolScope
from idp.scim_schema import ROLES, Education, Email

SHARED = ("given_name", "family_name", "birthdate", "email")  # on the Account: every school of the person sees them
ADMIN_ROLES = ("teacher", "staff")  # who may be a school's administrator


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


def class_name_of(text: str | None) -> str:
    name = (text or "").strip()
    if not 0 < len(name) <= 64:
        raise InvalidValueException(detail="displayName (the class's name) must be 1 to 64 characters")
    return name


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
    that one which began today is changed in place. Only a teacher or staff member stays an administrator."""
    is_admin = membership.is_admin and values.get("role", membership.role) in ADMIN_ROLES
    if membership.valid_from >= scope.today:
        for key, value in values.items():
            setattr(membership, key, value)
        membership.is_admin = is_admin
        return
    until, membership.valid_until = membership.valid_until, day_before(scope.today)
    fields = {"role": membership.role, "school_class": membership.school_class,
              "external_id": membership.external_id, **values}
    scope.session.add(Membership(account_id=membership.account_id, school_id=membership.school_id,
                                 is_admin=is_admin, valid_from=scope.today, valid_until=until, **fields))
