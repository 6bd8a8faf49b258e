"""The connection pool on PostgreSQL: a connection dropped while idle is replaced before a request uses it; one
dropped while in steady use fails that one request, and the next gets a fresh connection."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

import idp.db
from idp.db import Database
from tests.live import fresh_database

pytestmark = pytest.mark.skipif(not os.environ.get("LEERID_TEST_DATABASE_URL"),
                                reason="PostgreSQL only (LEERID_TEST_DATABASE_URL): SQLite has no connections to drop")


@pytest.fixture
def database(tmp_path):
    with fresh_database(tmp_path) as url:
        db = Database(url, pool_size=1, max_overflow=0)
        try:
            yield db
        finally:
            db.engine.dispose()


def backend(db: Database) -> int:
    with db.read() as session:
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def drop(pid: int) -> None:
    """What a PostgreSQL restart or an idle timeout does to a connection: the server ends it."""
    admin = create_engine(os.environ["LEERID_TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_use(database, monkeypatch):
    first = backend(database)
    drop(first)
    monkeypatch.setattr(idp.db, "IDLE_PING_SECONDS", 0)  # it has been idle long enough to be pinged
    assert backend(database) != first, "a fresh connection, and no error"


def test_a_connection_dropped_in_steady_use_fails_one_request_and_the_next_is_fresh(database, monkeypatch):
    first = backend(database)
    drop(first)
    monkeypatch.setattr(idp.db, "IDLE_PING_SECONDS", 3600)  # in steady use: not pinged
    with pytest.raises(OperationalError):
        backend(database)
    assert backend(database) != first
