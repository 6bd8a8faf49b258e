"""Alembic environment: leerID's models on the engine `leerid db upgrade` was given."""
from alembic import context

from idp.db import Base, make_engine
from idp.models import load_all

load_all()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = make_engine(context.config.attributes["database_url"])
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
