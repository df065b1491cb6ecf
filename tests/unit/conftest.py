"""Unit-test fixtures: every test runs once on SQLite and once on PostgreSQL.

Each engine gets a throwaway database migrated to head once per run; each test runs inside a
transaction that is rolled back, so tests never see each other's data. A module whose tests all read the
same data makes it once, and runs each test in a savepoint of it instead (`module_connection`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from portal import create_app
from portal.auth.models import User
from portal.core.ratelimit import MemoryCounts, rate_limiter
from portal.extensions import build_engine, db
from portal.migrate import upgrade
from tests.databases import create_postgresql_database, drop_postgresql_database
from tests.unit.builders import make_login_session, make_user

ENGINES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--engines", default=",".join(ENGINES), help="comma-separated engines to run the tests on")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("--engines").split(","))
    selected, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine = (
            next((value for name, value in callspec.params.items() if name.endswith("database_url")), None)
            if callspec
            else None
        )
        (deselected if engine and engine not in wanted else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@contextmanager
def empty_database(engine: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database of this engine (an SQLite file in `folder`), dropped on exit."""
    if engine == "sqlite":
        yield f"sqlite:///{folder / 'referentiel.db'}"
        return
    url = create_postgresql_database()
    try:
        yield url
    finally:
        drop_postgresql_database(url)


@pytest.fixture(scope="session", params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database of each engine for the whole run."""
    with empty_database(request.param, tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the database, migrated to head."""
    engine = build_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(database_url: str, engine: Engine) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            # Imports run inside the request that starts them, in the test's transaction (no thread).
            "IMPORTS_INLINE": True,
        }
    )


@pytest.fixture(scope="module")
def module_connection(app: Flask, engine: Engine) -> Iterator[Connection]:
    """A connection whose transaction spans a whole module and is rolled back after it, for a module whose tests
    all read the same data: a module-scoped fixture makes it once (with `shared_session`), and `connection` runs
    each test in a savepoint of this transaction, rolled back after the test. A module opts in with
    `pytestmark = pytest.mark.usefixtures("module_connection")`, so that all of its tests share the connection
    (SQLite lets one connection at a time write). Its tests must close the streamed responses they open: a session
    still open after a test would outlive its savepoint (an SAWarning, raised as an error)."""
    with rolled_back_connection(engine) as connection:
        yield connection


@contextmanager
def shared_session(app: Flask) -> Iterator[Session]:
    """A session for a module's shared data, in `module_connection`'s transaction: committed on exit (into that
    transaction only), so that every test of the module sees the data, and none keeps a change to it."""
    with app.app_context():
        try:
            yield db.session
            db.session.commit()
        finally:
            db.remove_session()


@pytest.fixture
def connection(request: pytest.FixtureRequest, app: Flask, engine: Engine) -> Iterator[Connection]:
    """A connection whose transaction wraps the whole test and is rolled back after it: a transaction of its own,
    or a savepoint of the module's transaction when the module shares its data (`module_connection`)."""
    if "module_connection" in request.fixturenames:
        shared: Connection = request.getfixturevalue("module_connection")
        savepoint = shared.begin_nested()
        db.bind(shared)  # again: a test before may have switched to an engine of its own (db.use)
        try:
            yield shared
        finally:
            savepoint.rollback()
        return
    with rolled_back_connection(engine) as connection:
        yield connection


@contextmanager
def rolled_back_connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose transaction is rolled back on exit, the portal's sessions bound to it meanwhile."""
    with engine.connect() as connection:
        transaction = connection.begin()
        db.bind(connection)
        try:
            yield connection
        finally:
            transaction.rollback()
            db.use(engine)


@pytest.fixture
def session(app: Flask, connection: Connection) -> Iterator[Session]:
    """The request-scoped session, inside an application context for the test itself."""
    with app.app_context():
        yield db.session
        db.remove_session()


# Tests send this in the X-CSRF-Token header (or the csrf_token field) of state-changing requests.
CSRF_TOKEN = "test-csrf-token"


def sign_in_as(client: FlaskClient, session: Session, user: User) -> FlaskClient:
    """Sign `client` in as `user` by writing flask-login's session key, as the sign-in page would."""
    key = make_login_session(session, user)
    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = key
        flask_session["_fresh"] = True
        flask_session["csrf_token"] = CSRF_TOKEN
    return client


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    """Failures counted by one test (in this process's memory) must not refuse the next one's requests."""
    yield
    rate_limiter.memory = MemoryCounts()


@pytest.fixture
def flask(app: Flask, session: Session) -> Callable[..., Result]:
    """`flask("import", path, "--apply", env={...})`: run a `flask` command in the tests' database, as an operator
    would, with `env` added to the environment."""
    runner = app.test_cli_runner()

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(args=list(args), env=env)

    return run


@pytest.fixture
def anonymous_client(app: Flask, session: Session) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def client(app: Flask, session: Session) -> FlaskClient:
    """A browser signed in as a reader, the least role that reads everything."""
    return sign_in_as(app.test_client(), session, make_user(session, "test-reader"))


@pytest.fixture
def login_as(app: Flask, session: Session) -> Callable[[str], FlaskClient]:
    """`login_as("steward")`: a new browser signed in as a fresh user with that role."""

    def login(role: str) -> FlaskClient:
        return sign_in_as(app.test_client(), session, make_user(session, f"test-{role}-{uuid.uuid4().hex[:6]}", role))

    return login
