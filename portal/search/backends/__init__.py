"""Search engines behind one interface: PostgreSQL full-text + pg_trgm, or SQLite FTS5."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.search.backends.base import SearchBackend
from portal.search.backends.postgresql import PostgresqlBackend
from portal.search.backends.sqlite import SqliteBackend

_BACKENDS: dict[str, SearchBackend] = {"postgresql": PostgresqlBackend(), "sqlite": SqliteBackend()}


def get_backend(session: Session) -> SearchBackend:
    return _BACKENDS[session.get_bind().dialect.name]


__all__ = ["SearchBackend", "get_backend"]
