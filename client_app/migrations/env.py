"""Alembic environment: the app's metadata, one connection from the configured URL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from client_app import models  # noqa: F401  (registers the tables)
from client_app.extensions import db

config = context.config
target_metadata = db.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=connection.dialect.name == "sqlite"
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:  # the app's own engine (its connector and options)
        _run(given)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
