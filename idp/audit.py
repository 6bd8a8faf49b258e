"""The audit log: append-only, hash-chained records of every security-relevant event."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from idp.db import Base, Database, UtcDateTime, utcnow

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)  # who acted
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)  # in whose name, or to whom
    client_id: Mapped[str | None] = mapped_column(String(64))
    school_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's end: updating it first serialises writers on every back end."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class Broken:
    seq: int
    reason: str


def digest(prev_hash: str, seq: int, at: datetime, event: str, actor_id, subject_id, client_id, school_id,
           detail: dict) -> str:
    body = json.dumps([seq, at.isoformat(timespec="microseconds"), event, actor_id, subject_id, client_id,
                       school_id, detail], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record(session: Session, event: str, *, actor_id: str | None = None, subject_id: str | None = None,
           client_id: str | None = None, school_id: int | None = None, detail: dict | None = None) -> AuditEvent:
    """Append an event inside the caller's transaction, so that it commits together with what it records."""
    detail = detail or {}
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    at = utcnow()
    entry = AuditEvent(seq=head.seq, at=at, event=event, actor_id=actor_id, subject_id=subject_id,
                       client_id=client_id, school_id=school_id, detail=detail, prev_hash=head.hash,
                       hash=digest(head.hash, head.seq, at, event, actor_id, subject_id, client_id, school_id,
                                   detail))
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=entry.hash))
    return entry


class AuditLog:
    def __init__(self, db: Database):
        self.db = db

    def record(self, event: str, **fields) -> None:
        with self.db.transaction() as session:
            record(session, event, **fields)

    def for_person(self, account_id: str, limit: int = 200) -> list[AuditEvent]:
        """Every event done by or in the name of this person, newest first."""
        with self.db.read() as session:
            query = select(AuditEvent).where(
                (AuditEvent.subject_id == account_id) | (AuditEvent.actor_id == account_id)
            ).order_by(AuditEvent.seq.desc()).limit(limit)
            return list(session.scalars(query))

    def verify(self, batch: int = 5000) -> tuple[int, Broken | None]:
        """Walk the chain: (records checked, the first broken record or None)."""
        prev, expected_seq, checked = GENESIS, 1, 0
        with self.db.read() as session:
            head = session.get(AuditHead, 1)
            while True:
                rows = list(session.scalars(select(AuditEvent).where(AuditEvent.seq >= expected_seq)
                                            .order_by(AuditEvent.seq).limit(batch)))
                for row in rows:
                    problem = self._check(row, prev, expected_seq)
                    if problem:
                        return checked, Broken(row.seq if row.seq == expected_seq else expected_seq, problem)
                    prev, expected_seq, checked = row.hash, row.seq + 1, checked + 1
                if len(rows) < batch:
                    break
        if head is not None and (head.seq != checked or head.hash != prev):
            return checked, Broken(checked + 1, "records after this point were deleted")
        return checked, None

    @staticmethod
    def _check(row: AuditEvent, prev: str, expected_seq: int) -> str | None:
        if row.seq != expected_seq:
            return f"record {expected_seq} is missing"
        if row.prev_hash != prev:
            return "its link to the previous record is broken"
        if row.hash != digest(prev, row.seq, row.at, row.event, row.actor_id, row.subject_id, row.client_id,
                              row.school_id, row.detail):
            return "its content was altered"
        return None
