"""Shared extension objects, created here and bound to an application in `create_app`."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool

from portal.search.text import fold


def _current_app_context_id() -> int:
    # One session per application context (that is, per request or per CLI command), as Flask-SQLAlchemy does.
    from flask import globals as flask_globals

    return id(flask_globals.app_ctx._get_current_object())  # type: ignore[attr-defined]


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on, WAL journal, and the accent folding the search shares with PostgreSQL."""
    # pysqlite's own transaction handling breaks SAVEPOINT; disable it and emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()
    # The same accent folding PostgreSQL gets from unaccent, so that one SQL expression serves both engines.
    dbapi_connection.create_function("referentiel_unaccent", 1, _fold, deterministic=True)


def _begin_sqlite_transaction(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def _fold(value: str | None) -> str | None:
    # SQLite's lower() only knows ASCII, so this also lowercases: folded() is unaccent(lower(x)) on both
    # engines and must give the same answer for "Équipe".
    return None if value is None else fold(value)


def build_engine(url: str, pool_size: int = 5, statement_timeout_ms: int = 5000) -> Engine:
    """Create an engine with the settings each backend needs (foreign keys on SQLite, timeouts on PostgreSQL)."""
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if url in {"sqlite://", "sqlite:///:memory:"}:
            options["poolclass"] = StaticPool
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    options = {}
    if make_url(url).get_driver_name() == "psycopg2":
        # An UPDATE given many rows goes as pages of statements (psycopg2's execute_batch) instead of one
        # round trip per row: 20,000 updated applications take 2.7 s instead of 7 s. No caller reads
        # the row count of such an UPDATE, which this mode does not give.
        options["executemany_mode"] = "values_plus_batch"
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"connect_timeout": 3, "options": f"-c statement_timeout={statement_timeout_ms}"},
        **options,
    )


class Database:
    """The engine and the request-scoped session of one application.

    Views and API handlers use `db.session`; it is removed at the end of every application context.
    Tests call `bind(connection)` so that everything a test writes stays inside one rolled-back transaction.
    """

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory = sessionmaker(expire_on_commit=False)
        self._registry: scoped_session[Session] = scoped_session(self._factory, scopefunc=_current_app_context_id)

    def init_app(self, app: Flask) -> None:
        config = app.config
        self.use(
            build_engine(config["DATABASE_URL"], config["DATABASE_POOL_SIZE"], config["DATABASE_STATEMENT_TIMEOUT_MS"])
        )
        app.extensions["database"] = self
        app.teardown_appcontext(self._remove_session)

    def require_engine(self) -> Engine:
        """The engine `init_app` (or `use`) set; RuntimeError before that (a command run without an app)."""
        if self.engine is None:
            raise RuntimeError("The database is not set up: create_app() must run before anything uses db.")
        return self.engine

    def use(self, engine: Engine) -> None:
        """Open sessions on `engine` (what `init_app` does; tests use it to switch back)."""
        self.engine = engine
        self._factory.configure(bind=engine, join_transaction_mode="conditional_savepoint")

    def bind(self, connection: Connection) -> None:
        """Run every session inside `connection`'s transaction, committing to savepoints (tests only)."""
        self._factory.configure(bind=connection, join_transaction_mode="create_savepoint")

    @property
    def session(self) -> Session:
        """The session of the current application context, created on first use."""
        return self._registry()

    def open_session(self) -> Session:
        """A session of its own, outside the request's: background work and progress reports commit on it
        without touching the request's transaction (under `bind`, it is a savepoint of the test's)."""
        return self._factory()

    def remove_session(self) -> None:
        """End the current session. A connection the database dropped meanwhile (it stopped or restarted after the
        request's own work) cannot even be rolled back: it is discarded, rather than failing a finished request."""
        if not self._registry.registry.has():
            return
        session = self._registry()
        try:
            session.close()
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            session.invalidate()
        finally:
            self._registry.remove()

    def _remove_session(self, _exception: BaseException | None) -> None:
        self.remove_session()


db = Database()


def vacuum_analyze(engine: Engine) -> None:
    """After a bulk load: refresh planner statistics (and on PostgreSQL the visibility map), so that the
    first searches do not pay for the load. Without statistics SQLite picks the environment kind index
    for "has a prod environment" and scans every prod environment once per application."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SET statement_timeout = 0"))  # minutes on a large referential
        connection.execute(text("VACUUM ANALYZE"))
