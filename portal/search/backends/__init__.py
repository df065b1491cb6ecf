"""Search engines behind one interface: PostgreSQL full-text + pg_trgm, or SQLite FTS5."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.search.backends.base import CAP, SearchBackend, no_rank
from portal.search.backends.postgresql import PostgresqlBackend
from portal.search.backends.sqlite import SqliteBackend

_BACKENDS: dict[str, SearchBackend] = {"postgresql": PostgresqlBackend(), "sqlite": SqliteBackend()}


def backend_for(dialect: str) -> SearchBackend:
    return _BACKENDS[dialect]


def get_backend(session: Session) -> SearchBackend:
    return backend_for(session.get_bind().dialect.name)


__all__ = ["CAP", "SearchBackend", "backend_for", "get_backend", "no_rank"]
