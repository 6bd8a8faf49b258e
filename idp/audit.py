"""The audit log: append-only, hash-chained records of every security-relevant event."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from idp.db import Base, Database, UtcDateTime, utcnow

GENESIS = "0" * 64
READ_ONLY = "25006"  # PostgreSQL: a write in a read-only transaction (a replica)
log = logging.getLogger("leerid")


BIG = BigInteger().with_variant(Integer, "sqlite")  # SQLite: an INTEGER primary key is the 64-bit rowid
SEAL_BATCH = 2000


class AuditEvent(Base):
    """Written with one INSERT and no lock that other writers wait for; `seal` chains it shortly after."""

    __tablename__ = "audit_events"
    # the latest event of a kind about a person (idp/mfa_policy.py, at every login), from the index alone
    __table_args__ = (Index("ix_audit_events_subject_event", "subject_id", "event", "seq"),)

    seq: Mapped[int] = mapped_column(BIG, primary_key=True, autoincrement=True)  # given by the database
    position: Mapped[int | None] = mapped_column(BIG, index=True, unique=True)  # its place in the chain, once sealed
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)  # who acted
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)  # in whose name, or to whom
    client_id: Mapped[str | None] = mapped_column(String(64))
    school_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


INSERT = insert(AuditEvent.__table__)  # built once: every login and release writes one


class AuditHead(Base):
    """The chain's end: the last sealed position and its hash. Only sealing writes it."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BIG)
    hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class Broken:
    seq: int  # the chain position where it breaks
    reason: str


def digest(prev_hash: str, position: int, at: datetime, event: str, actor_id, subject_id, client_id, school_id,
           detail: dict) -> str:
    body = json.dumps([position, at.isoformat(timespec="microseconds"), event, actor_id, subject_id, client_id,
                       school_id, detail], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record(session: Session, event: str, *, actor_id: str | None = None, subject_id: str | None = None,
           client_id: str | None = None, school_id: int | None = None, detail: dict | None = None) -> None:
    """Append an event inside the caller's transaction, so that it commits together with what it records. One
    INSERT, sent now (no object for the session to track: the record is written once and never changed here)."""
    session.execute(INSERT, {"at": utcnow(), "event": event, "actor_id": actor_id, "subject_id": subject_id,
                             "client_id": client_id, "school_id": school_id, "detail": detail or {}})


def seal(session: Session, limit: int = SEAL_BATCH) -> int:
    """Chain the records written since the last seal, in the order they were written: each gets the next position
    and a hash over the previous one. The head's row lock makes sealers take turns; writers never wait for it."""
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))  # the lock, first
    head = session.get(AuditHead, 1, populate_existing=True)
    rows = list(session.scalars(select(AuditEvent).where(AuditEvent.position.is_(None))
                                .order_by(AuditEvent.seq).limit(limit)))
    for row in rows:
        position = head.seq + 1
        row.position, row.prev_hash = position, head.hash
        row.hash = digest(head.hash, position, row.at, row.event, row.actor_id, row.subject_id, row.client_id,
                          row.school_id, row.detail)
        head.seq, head.hash = position, row.hash
    return len(rows)


class AuditLog:
    def __init__(self, db: Database):
        self.db = db

    def record(self, event: str, **fields) -> None:
        with self.db.transaction() as session:
            record(session, event, **fields)

    def seal(self) -> int:
        """Chain every record written so far (`leerid worker` does this every second); how many were sealed."""
        sealed = 0
        while True:
            with self.db.transaction() as session:
                count = seal(session)
            sealed += count
            if count < SEAL_BATCH:
                return sealed

    def for_person(self, account_id: str, limit: int = 200) -> list[AuditEvent]:
        """Every event done by or in the name of this person, newest first."""
        with self.db.read() as session:
            query = select(AuditEvent).where(
                (AuditEvent.subject_id == account_id) | (AuditEvent.actor_id == account_id)
            ).order_by(AuditEvent.seq.desc()).limit(limit)
            return list(session.scalars(query))

    def keep_sealed(self, stop: threading.Event, every: float = 1.0) -> threading.Thread:
        """A thread that seals every `every` seconds until `stop` is set (the worker's; any number may run)."""
        def run() -> None:
            while not stop.wait(every):
                try:
                    self.seal()
                except Exception:  # the thread never dies: sealing goes on when the database is back
                    log.exception("audit records could not be sealed; trying again")

        thread = threading.Thread(target=run, name="audit-seal", daemon=True)
        thread.start()
        return thread

    def verify(self, batch: int = 5000) -> tuple[int, Broken | None]:
        """Seal what was written (not on a read-only replica: what is chained already is checked), then walk the
        chain up to the head read first (a worker may seal more meanwhile): (records checked, the first broken
        record or None)."""
        try:
            self.seal()
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != READ_ONLY:
                raise
        prev, expected, checked = GENESIS, 1, 0
        with self.db.read() as session:
            head = session.get(AuditHead, 1)
            last = head.seq if head is not None else 0
            while True:
                rows = list(session.scalars(select(AuditEvent).where(AuditEvent.position >= expected,
                                                                     AuditEvent.position <= last)
                                            .order_by(AuditEvent.position).limit(batch)))
                for row in rows:
                    problem = self._check(row, prev, expected)
                    if problem:
                        return checked, Broken(row.position if row.position == expected else expected, problem)
                    prev, expected, checked = row.hash, row.position + 1, checked + 1
                if len(rows) < batch:
                    break
        if head is not None and (head.seq != checked or head.hash != prev):
            return checked, Broken(checked + 1, "records after this point were deleted")
        return checked, None

    @staticmethod
    def _check(row: AuditEvent, prev: str, expected: int) -> str | None:
        if row.position != expected:
            return f"record {expected} is missing"
        if row.prev_hash != prev:
            return "its link to the previous record is broken"
        if row.hash != digest(prev, row.position, row.at, row.event, row.actor_id, row.subject_id, row.client_id,
                              row.school_id, row.detail):
            return "its content was altered"
        return None
