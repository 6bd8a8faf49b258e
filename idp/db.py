"""The SQL database: declarative base, engine and units of work."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError
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
    # Errors never show their parameters (names, addresses) in a log.
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800,
                           pool_use_lifo=True, hide_parameters=True)
    event.listen(engine, "connect", _note_use)
    event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "checkin", _note_use)
    return engine


IDLE_PING_SECONDS = 10


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """A connection that sat unused for a while is pinged before use; if PostgreSQL dropped it, every connection
    made before it is retired too (a restart drops them all) and a fresh one serves the request. One in steady use
    is not pinged (a round trip at every checkout was a third of a token request's database work); should it fail
    in use, SQLAlchemy invalidates the pool the same way and that request answers 503."""
    used = record.info.get("used")
    if used is not None and time.monotonic() - used < IDLE_PING_SECONDS:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as exc:
        raise InvalidatePoolError("the connection was dropped while idle") from exc  # the pool tries a fresh one


def _note_use(_dbapi_connection, record) -> None:
    record.info["used"] = time.monotonic()


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
        # `rows`: no BEGIN, no ROLLBACK. (SQLite begins no transaction for a SELECT anyway; there AUTOCOMMIT would
        # commit a transaction its thread's shared in-memory connection has open.)
        self.reader = self.engine if url.startswith("sqlite") else \
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
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

    def rows(self, statement, **params) -> list:
        """One query's rows on a pooled connection, without an ORM session or a transaction around it (one round
        trip): for the reads on every request, which need a few plain columns and no objects. The statement is
        best built once, with bind parameters for `params`: building it costs more than running it."""
        with self.reader.connect() as conn:
            return list(conn.execute(statement, params))

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
