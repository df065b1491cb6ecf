"""Throwaway PostgreSQL databases for the unit and end-to-end tests, created and dropped on the local server."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text

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
