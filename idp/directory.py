"""The school directory: schools, school years, classes and memberships (history kept)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.db import Base, UtcDateTime, utcnow

LEVELS = ("basis", "secundair", "volwassenen", "hoger")


def age_on(birthdate: date, today: date) -> int:
    """Whole years of age on `today`."""
    return today.year - birthdate.year - ((today.month, today.day) < (birthdate.month, birthdate.day))


def below_consent_age(role: str, birthdate: date | None, today: date, consent_age: int) -> bool:
    """Too young to consent alone; a pupil whose birthdate leerID does not know counts as young."""
    return role == "pupil" if birthdate is None else age_on(birthdate, today) < consent_age


def school_year(on: date) -> int:
    """The school year `on` falls in, named by the year it starts (1 September – 31 August)."""
    return on.year if on.month >= 9 else on.year - 1


def school_year_label(start: int) -> str:
    return f"{start}-{start + 1}"


def school_claim(number: str, name: str) -> dict:
    """A school as the `school` and `schools` claims carry it."""
    return {"number": number, "name": name}


def class_claim(name: str, grade: int | None, year: int) -> dict:
    """A class as the `class` claim carries it."""
    return {"name": name, "grade": grade, "school_year": school_year_label(year)}


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # instellingsnummer
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str | None] = mapped_column(String(16))
    created_at = mapped_column(UtcDateTime, default=utcnow)
    # QR badges (idp/badges.py): the networks (CIDR) a badge login may come from, none or empty for anywhere; and
    # what a pupil adds to the badge: nothing, a PIN of four digits, or the picture they know
    badge_networks: Mapped[list | None] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))  # DISTINCT-able
    badge_second_step: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    # the school's devices (idp/sessions.py): "ask" (the login page asks), "shared" or "personal" (it does not ask)
    device_policy: Mapped[str] = mapped_column(String(16), default="ask", server_default="ask")

    def as_claim(self) -> dict:
        return school_claim(self.number, self.name)


class SchoolClass(Base):
    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("school_id", "school_year", "name", name="uq_class"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    school_year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    grade: Mapped[int | None] = mapped_column(Integer)
    school: Mapped[School] = relationship(lazy="joined")

    def as_claim(self) -> dict:
        return class_claim(self.name, self.grade, self.school_year)


class Membership(Base):
    """A person at a school in a role from one day to another, optionally in a class.

    A change (another class, leaving) ends the row and starts a new one, so history is kept.
    `is_admin` makes a staff member an administrator of that school.
    """

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(64))  # the school software's id of the person
    valid_from: Mapped[date] = mapped_column(Date, default=date.today)
    valid_until: Mapped[date | None] = mapped_column(Date)  # the last day (inclusive); None: open-ended
    account = relationship("Account", back_populates="memberships")
    school: Mapped[School] = relationship(lazy="joined")
    school_class: Mapped[SchoolClass | None] = relationship(lazy="joined")

    def current(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_until is None or on <= self.valid_until)

    @property
    def class_name(self) -> str | None:
        return self.school_class.name if self.school_class else None


def current_on(day) -> ColumnElement[bool]:
    """SQL for: the membership is valid on `day` (a date, or a bind parameter for one)."""
    return and_(Membership.valid_from <= day, or_(Membership.valid_until.is_(None), Membership.valid_until >= day))


class ParentEmail(Base):
    """A parent's e-mail address as the pupil's school gave it (for parent letters and mandates)."""

    __tablename__ = "parent_emails"
    __table_args__ = (UniqueConstraint("account_id", "school_id", "email", name="uq_parent_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    email: Mapped[str] = mapped_column(String(254))
    created_at = mapped_column(UtcDateTime, default=utcnow)


class RosterReview(Base):
    """A roster row held back because several leerIDs could be that person: an administrator chooses.

    `row` keeps the school's data for the person; `candidates` the account ids that could be them.
    Resolved: `account_id` is who it turned out to be (an existing or a new account).
    """

    __tablename__ = "roster_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    row: Mapped[dict] = mapped_column(JSON)
    candidates: Mapped[list] = mapped_column(JSON)
    created_at = mapped_column(UtcDateTime, default=utcnow)
    resolved_at = mapped_column(UtcDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(36))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    school: Mapped[School] = relationship(lazy="joined")
