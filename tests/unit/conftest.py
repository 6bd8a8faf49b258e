"""Unit-test fixtures: no Flask app, no Redis; a database lives in memory and is migrated the real way."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine


@pytest.fixture
def memory_db():
    """An in-memory SQLite Database (idp.db), migrated by `migrations.upgrade`.

    A named shared-cache memory database, so that the migration's engine and the Database's engine see the
    same tables; a keeper connection holds it alive for the test.
    """
    from idp.db import Database
    from migrations import upgrade

    url = f"sqlite:///file:leerid-{uuid.uuid4().hex}?mode=memory&cache=shared&uri=true"
    keeper = create_engine(url).connect()
    try:
        upgrade(url)
        db = Database(url)
        yield db
        db.engine.dispose()
    finally:
        keeper.close()
