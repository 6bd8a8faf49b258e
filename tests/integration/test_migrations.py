"""Migrations are the only way the schema changes: they build exactly the models, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from idp.db import Base, make_engine
from idp.models import load_all
from migrations import upgrade
from tests.live import fresh_database


def test_migrations_build_exactly_the_models(tmp_path):
    load_all()
    with fresh_database(tmp_path) as url:
        assert upgrade(url) == upgrade(url), "a second upgrade is a no-op"
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                drift = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        finally:
            engine.dispose()
    assert drift == [], f"the models and migrations/ disagree; add a migration: {drift}"
