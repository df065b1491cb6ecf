"""Alembic environment: the URL comes from the caller (tests, `flask db upgrade`) or PORTAL_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from portal.extensions import build_engine
from portal.migrate import include_name
from portal.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("PORTAL_DATABASE_URL")
    if not url:
        raise SystemExit("Set PORTAL_DATABASE_URL to the database to migrate.")
    if url.startswith("postgresql:"):
        url = "postgresql+psycopg2:" + url[len("postgresql:") :]
    engine = build_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run them against a database.")
run_migrations_online()
