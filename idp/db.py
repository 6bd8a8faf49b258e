"""The SQL database: declarative base, engine and units of work."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every back end (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A ping before each use (one round trip) replaces a connection PostgreSQL dropped before a request uses it,
    # rather than in the middle of one. Errors never show their parameters (names, addresses) in a log.
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow,
                         pool_recycle=1800, pool_use_lifo=True, hide_parameters=True)


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


CHANGED = "leerid.changed"  # in a session's info: the platforms its flushes changed


def _note_changes(session: Session, _context) -> None:
    """Rows that say which platform they belong to (`changes_platform`) note it, for after the commit."""
    for row in (*session.new, *session.dirty, *session.deleted):
        platform = getattr(row, "changes_platform", None)
        if platform is not None:
            session.info.setdefault(CHANGED, set()).add(platform)


class Database:
    """One engine and its sessions; `transaction()` is the unit of work."""

    def __init__(self, url: str, pool_size: int = 10, max_overflow: int = 10):
        self.url = url
        self.engine = make_engine(url, pool_size, max_overflow)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.committed: Callable[[set[str]], None] | None = None  # told the changed platforms of each commit
        event.listen(self.sessions, "after_flush", _note_changes)
        event.listen(self.sessions, "after_commit", self._tell_changes)
        event.listen(self.sessions, "after_rollback", lambda session: session.info.pop(CHANGED, None))

    def _tell_changes(self, session: Session) -> None:
        changed = session.info.pop(CHANGED, None)
        if changed and self.committed is not None:
            self.committed(changed)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Everything inside commits together or not at all."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
