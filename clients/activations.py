"""School activations: a school takes a platform on under its data-processing agreement with the vendor.

A `school-agreement` platform serves a school's people only after that school activated it; each activation
records the agreement's reference and the day it began. Ending one keeps the row (history).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, UtcDateTime, utcnow


class SchoolActivation(Base):
    __tablename__ = "school_activations"
    __table_args__ = (UniqueConstraint("client_id", "school_id", name="uq_school_activation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    agreement: Mapped[str | None] = mapped_column(String(200))  # the data-processing agreement's reference
    since: Mapped[date] = mapped_column(Date)
    activated_by: Mapped[str | None] = mapped_column(String(36))  # an administrator's account id; None: operator
    created_at = mapped_column(UtcDateTime, default=utcnow)
    ended_at = mapped_column(UtcDateTime, nullable=True)

    @property
    def changes_platform(self) -> str:
        """A change of it is a change of the platform (idp/changes.py)."""
        return self.client_id

