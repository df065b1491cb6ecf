"""Throwaway PostgreSQL databases for the unit and end-to-end tests, created and dropped on the local server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from portal.extensions import build_engine

# The maintenance database used to create and drop the throwaway ones.
POSTGRESQL_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_POSTGRESQL_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def create_postgresql_database() -> str:
    """Create an empty throwaway database and return its URL."""
    name = f"referentiel_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRESQL_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRESQL_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgresql_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRESQL_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def throwaway_postgresql_engine() -> Iterator[Engine]:
    """An engine on a PostgreSQL database of its own, dropped on exit: for a test that breaks its connections."""
    url = create_postgresql_database()
    engine = build_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_postgresql_database(url)


def drop_connection(session: Session) -> None:
    """End the server process of `session`'s connection from another one, as a database restart would."""
    server_process = session.execute(text("SELECT pg_backend_pid()")).scalar()
    with session.get_bind().connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": server_process})
