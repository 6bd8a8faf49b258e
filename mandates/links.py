"""Link letters: a school registers a parent for a pupil, and the parent accepts the waiting mandate with the
one-time code from the letter (14 days, single use), signed in with their own leerID.

Only the code's hash is stored, as for activation codes (idp/activation.py). A code works for the mandate's
actor only: anyone else who types it changes nothing, and the code keeps working for the parent.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from idp.activation import new_code, normalise
from idp.crypto import sha256_hex
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.errors import InvalidInput, NotFound
from mandates.store import Held, Mandate, MandateStore

VALID_DAYS = 14


class MandateLink(Base):
    __tablename__ = "mandate_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandates.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class InvalidLinkCode(InvalidInput):
    """Unknown, used, replaced, expired, or not this person's: the person is told the same for each."""


def fresh_link(session: Session, mandate_id: int, today: date) -> tuple[str, date]:
    """Inside the caller's transaction: a new one-time code for the mandate, and its last valid day; every earlier
    unused code of that mandate stops working."""
    code = new_code()
    session.execute(update(MandateLink).where(MandateLink.mandate_id == mandate_id, MandateLink.used_at.is_(None))
                    .values(expires_at=utcnow()))
    session.add(MandateLink(mandate_id=mandate_id, code_hash=sha256_hex(normalise(code)),
                            expires_at=utcnow() + timedelta(days=VALID_DAYS)))
    return code, today + timedelta(days=VALID_DAYS)


class MandateLinks:
    def __init__(self, db: Database, mandates: MandateStore):
        self.db = db
        self.mandates = mandates

    def redeem(self, code: str, account_id: str) -> Held:
        """The signed-in actor accepts the mandate the code belongs to; the code is spent in the same transaction."""
        code_hash = sha256_hex(normalise(code or ""))
        with self.db.transaction() as session:
            link = session.scalar(select(MandateLink).where(MandateLink.code_hash == code_hash))
            mandate = session.get(Mandate, link.mandate_id) if link is not None else None
            if link is None or link.used_at is not None or link.expires_at <= utcnow() \
                    or mandate is None or mandate.actor_id != account_id:
                raise InvalidLinkCode("this link code is not valid (any more)")
            spent = session.execute(update(MandateLink).where(MandateLink.id == link.id, MandateLink.used_at.is_(None))
                                    .values(used_at=utcnow())).rowcount
            if spent != 1:
                raise InvalidLinkCode("this link code is not valid (any more)")
            try:
                return self.mandates.within(session).accept(mandate.id, account_id, with_code=True)
            except NotFound as exc:  # revoked meanwhile, or no longer waiting for the parent
                raise InvalidLinkCode("this link code is not valid (any more)") from exc
