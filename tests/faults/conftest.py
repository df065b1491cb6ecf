"""Fault fixtures: a PostgreSQL cluster of the suite's own, a referential loaded with the CLI, gunicorn as the image
starts it, and the figures each test measured, printed at the end of the run.

Once per run: the cluster (`servers.throwaway_cluster`), migrated with `flask db upgrade`, a little demo data, a
local admin, a push source and two API tokens, all made with the portal's CLI as an operator would; and gunicorn,
which has to live through what every test does to it. Every test starts with the cluster running, whatever the test
before did to it, and the cluster is stopped and removed at the end of the run, also when a test failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import Engine, create_engine, text

from tests.e2e.oidc import free_port
from tests.faults.servers import Cluster, Portal, running_portal, throwaway_cluster
from tests.portal_client import flask_cli, flask_cli_together, portal_environment, sign_in

HTTP_TIMEOUT_S = 10
PUSH_SOURCE = "nifi"


@dataclass(frozen=True)
class Referential:
    """What the CLI loaded: a local admin (for pages and uploads) and the tokens scripts and NiFi would hold."""

    database_url: str
    secret_key: str = field(repr=False)
    admin_login: str
    admin_password: str = field(repr=False)
    read_token: str = field(repr=False)  # the admin's, scope read
    ingest_token: str = field(repr=False)  # the admin's, scope ingest: pushes to PUSH_SOURCE
    trigrams: tuple[str, ...]  # a few applications of the demo data


# --- Figures: what each test measured, printed after the results -----------------------------------------------

_FIGURES: list[tuple[str, list[str]]] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """A list the test appends its measured figures to (one line each); printed at the end of the run, and kept in
    the JUnit report as the test's `figures` property."""
    lines: list[str] = []
    _FIGURES.append((request.node.nodeid, lines))
    yield lines
    request.node.user_properties.append(("figures", "\n".join(lines)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(lines for _, lines in _FIGURES):
        return
    terminalreporter.section("fault figures")
    for nodeid, lines in _FIGURES:
        if lines:
            terminalreporter.write_line(nodeid)
            for line in lines:
                terminalreporter.write_line(f"    {line}")


# --- The cluster and the referential --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster(free_port()) as made:
        yield made


@pytest.fixture(autouse=True)
def cluster_running(cluster: Cluster) -> None:
    """Each test starts with the database up, even after a test that failed while it was stopped."""
    if not cluster.is_running():
        cluster.start()


@pytest.fixture(scope="session")
def engine(cluster: Cluster) -> Iterator[Engine]:
    """An engine on the test database, for the tests' own checks (what the portal wrote, locks, sessions)."""
    made = create_engine(cluster.url(), pool_pre_ping=True)
    yield made
    made.dispose()


@pytest.fixture(scope="session")
def referential(cluster: Cluster, engine: Engine) -> Referential:
    """The database migrated and loaded through the CLI, as an operator does it (docs/deploy.md)."""
    secret_key = secrets.token_hex(32)
    admin_password = secrets.token_urlsafe(18)
    env = portal_environment(DATABASE_URL=cluster.url(), SECRET_KEY=secret_key)
    flask_cli(env, "db", "upgrade")
    flask_cli_together(
        (env, ["demo-data", "--applications", "200", "--no-vacuum"]),
        (
            {**env, "FAULTS_ADMIN_PASSWORD": admin_password},
            ["users", "create", "faultadmin", "--role", "admin", "--password-env", "FAULTS_ADMIN_PASSWORD"],
        ),
        (env, ["sources", "create", PUSH_SOURCE, "--kind", "push", "--precedence", "40"]),
    )
    tokens = flask_cli_together(
        *(
            (env, ["tokens", "create", "--user", "faultadmin", "--name", f"faults-{scope}", "--scope", scope])
            for scope in ("read", "ingest")
        )
    )
    read_token, ingest_token = (output.strip().splitlines()[-1] for output in tokens)
    with engine.connect() as connection:
        trigrams = connection.execute(text("SELECT trigram FROM application ORDER BY trigram LIMIT 5")).scalars()
        return Referential(
            database_url=cluster.url(),
            secret_key=secret_key,
            admin_login="faultadmin",
            admin_password=admin_password,
            read_token=read_token,
            ingest_token=ingest_token,
            trigrams=tuple(trigrams),
        )


@dataclass(frozen=True)
class IdentityProvider:
    """Where the portal expects its OpenID Connect provider; the test that needs it runs it there."""

    port: int
    client_id: str
    client_secret: str = field(repr=False)
    name: str = "Bank SSO"


@pytest.fixture(scope="session")
def identity_provider() -> IdentityProvider:
    return IdentityProvider(free_port(), "referentiel", secrets.token_urlsafe(32))


@pytest.fixture(scope="session")
def portal(
    referential: Referential, identity_provider: IdentityProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Portal]:
    """gunicorn as the image runs it, on the test database, with single sign-on at `identity_provider` (which runs
    only while a test needs it: the portal asks for its discovery document at the first sign-in). One for the whole
    run: recovering from what each test does to it is the point, and each test starts from what it finds."""
    env = portal_environment(
        DATABASE_URL=referential.database_url,
        SECRET_KEY=referential.secret_key,
        OIDC_METADATA_URL=f"http://127.0.0.1:{identity_provider.port}/.well-known/openid-configuration",
        OIDC_CLIENT_ID=identity_provider.client_id,
        OIDC_CLIENT_SECRET=identity_provider.client_secret,
        OIDC_PROVIDER_NAME=identity_provider.name,
        OIDC_ROLE_MAP='{"referentiel-admins": "admin"}',
    )
    with running_portal(free_port(), env, tmp_path_factory.mktemp("portal")) as running:
        yield running


# --- Browsers -------------------------------------------------------------------------------------------------


def signed_in_browser(portal_url: str, login: str, password: str) -> requests.Session:
    """A browser (an HTTP client keeping cookies) signed in through the sign-in form."""
    browser = requests.Session()
    answer = sign_in(browser, portal_url, login, password)
    assert answer.status_code == 303, f"sign-in as {login} answered {answer.status_code}"
    return browser


@pytest.fixture
def admin_browser(portal: Portal, referential: Referential) -> requests.Session:
    return signed_in_browser(portal.url, referential.admin_login, referential.admin_password)


# What a browser asks for.
PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_problem(answer: requests.Response) -> bool:
    return answer.headers.get("Content-Type", "").startswith("application/problem+json")
