"""End-to-end fixtures: the real portal in a real browser.

Once per run: a throwaway PostgreSQL database (migrated, XS demo data, two local accounts made with the CLI), the
loopback OpenID Connect provider, and gunicorn with two workers whose rate limits are shared through Redis under a
prefix of this run. Everything is stopped, dropped or deleted at the end. Each test gets a fresh browser context
(pytest-playwright's `page`), so no cookie survives from one test to the next.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page

from tests.databases import create_postgresql_database, drop_postgresql_database
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.leaks import find_leaks, note_server_log, note_token_secret
from tests.e2e.oidc import free_port, running_oidc_provider, stop_process, wait_until_answering
from tests.portal_client import BIN, REPO_ROOT, flask_cli, flask_cli_together, log_tail, portal_environment

REDIS_URL = "redis://127.0.0.1:6379/0"
OIDC_CLIENT_ID = "referentiel"
PROVIDER_NAME = "Bank SSO"
ACCESS_CONTACT = "referentiel-support@bank.example"
READY_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 60


@dataclass(frozen=True)
class Account:
    login: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class LocalAccounts:
    """The local accounts created for this run; their passwords are random per run."""

    admin: Account  # role admin
    lockme: Account  # role reader, for the failed sign-in limit (it ends the run locked out)


@dataclass(frozen=True)
class LivePortal:
    """The running portal and what it was configured with."""

    url: str  # http://127.0.0.1:<port>, no trailing slash
    log_path: Path  # gunicorn's stdout and stderr (the portal's JSON request lines included)
    provider_issuer: str  # the test identity provider, http://127.0.0.1:<its port>
    provider_name: str
    access_contact: str
    secret_key: str = field(repr=False)
    oidc_client_secret: str = field(repr=False)


@pytest.fixture(scope="session", autouse=True)
def token_secrets_stay_out_of_the_logs() -> Iterator[None]:
    """At the end of the run, once every server has stopped: no token secret made during the run (noted where it
    is made) nor anything shaped like one is in the log of any gunicorn the suite started. Session-scoped and
    autouse, so set up first and torn down last, after the servers; a leak fails the run (an error at teardown)."""
    yield
    leaks = find_leaks()
    assert not leaks, "token secrets were written to the server logs:\n" + "\n".join(map(str, leaks))


def pytest_configure(config: pytest.Config) -> None:
    # A failing browser test always leaves a screenshot under --output (test-results/ by default).
    if config.getoption("--screenshot", default=None) == "off":
        config.option.screenshot = "only-on-failure"


@pytest.fixture(scope="session")
def local_accounts() -> LocalAccounts:
    return LocalAccounts(
        admin=Account("localadmin", secrets.token_urlsafe(18)),
        lockme=Account("lockme", secrets.token_urlsafe(18)),
    )


@pytest.fixture(scope="session")
def portal_secret_key() -> str:
    return secrets.token_hex(32)


@contextmanager
def migrated_database(
    secret_key: str, accounts: Iterable[tuple[Account, str]], demo_size: str | None = None
) -> Iterator[str]:
    """A throwaway PostgreSQL database migrated with the CLI, with `demo_size` demo data (none: empty) and the
    local `accounts` (each with its role); dropped on exit."""
    url = create_postgresql_database()
    try:
        env = portal_environment(DATABASE_URL=url, SECRET_KEY=secret_key)
        flask_cli(env, "db", "upgrade")
        # Then the data and the accounts at the same time: they do not touch the same rows.
        flask_cli_together(
            *([(env, ["demo-data", "--size", demo_size])] if demo_size else []),
            *(
                (
                    {**env, "E2E_ACCOUNT_PASSWORD": account.password},
                    ["users", "create", account.login, "--role", role, "--password-env", "E2E_ACCOUNT_PASSWORD"],
                )
                for account, role in accounts
            ),
        )
        yield url
    finally:
        drop_postgresql_database(url)


@pytest.fixture(scope="session")
def database_url(local_accounts: LocalAccounts, portal_secret_key: str) -> Iterator[str]:
    """A throwaway PostgreSQL database: migrated, with the XS demo data and the local accounts."""
    accounts = ((local_accounts.admin, "admin"), (local_accounts.lockme, "reader"))
    with migrated_database(portal_secret_key, accounts, demo_size="XS") as url:
        yield url


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this run only; its keys are deleted at the end."""
    with throwaway_redis_prefix() as prefix:
        yield prefix


@contextmanager
def throwaway_redis_prefix() -> Iterator[str]:
    """A Redis key prefix of its own; its keys are deleted on exit."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        raise RuntimeError(f"Redis does not answer at {REDIS_URL} ({error}): start redis-server") from None
    prefix = f"referentiel-e2e-{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="session")
def portal_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def oidc_client_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def oidc_issuer(portal_port: int, oidc_client_secret: str) -> Iterator[str]:
    portal = f"http://127.0.0.1:{portal_port}"
    with running_oidc_provider(
        free_port(),
        client_id=OIDC_CLIENT_ID,
        client_secret=oidc_client_secret,
        redirect_uri=f"{portal}/auth/callback",
        post_logout_redirect_uri=f"{portal}/auth/signed-out",
    ) as issuer:
        yield issuer


@pytest.fixture(scope="session")
def live_portal(
    tmp_path_factory: pytest.TempPathFactory,
    portal_port: int,
    portal_secret_key: str,
    database_url: str,
    oidc_issuer: str,
    oidc_client_secret: str,
    redis_prefix: str,
) -> Iterator[LivePortal]:
    """gunicorn (2 workers) serving the portal until the end of the run; its output goes to `log_path`."""
    log_path = tmp_path_factory.mktemp("portal") / "gunicorn.log"
    env = portal_environment(
        DATABASE_URL=database_url,
        SECRET_KEY=portal_secret_key,
        OIDC_METADATA_URL=f"{oidc_issuer}/.well-known/openid-configuration",
        OIDC_CLIENT_ID=OIDC_CLIENT_ID,
        OIDC_CLIENT_SECRET=oidc_client_secret,
        OIDC_PROVIDER_NAME=PROVIDER_NAME,
        OIDC_ROLE_MAP='{"referentiel-admins": "admin"}',
        ACCESS_CONTACT=ACCESS_CONTACT,
        REDIS_URL=REDIS_URL,
        REDIS_PREFIX=redis_prefix,
    )
    with running_gunicorn(portal_port, env, log_path) as url:
        yield LivePortal(
            url=url,
            log_path=log_path,
            provider_issuer=oidc_issuer,
            provider_name=PROVIDER_NAME,
            access_contact=ACCESS_CONTACT,
            secret_key=portal_secret_key,
            oidc_client_secret=oidc_client_secret,
        )


@contextmanager
def running_gunicorn(port: int, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """gunicorn (2 workers) serving the portal on 127.0.0.1:`port` with `env`, its output in `log_path`; yields
    its URL once /readyz answers 200, and stops it on exit. No gunicorn access log: the portal writes its own."""
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "gunicorn"), *("--bind", f"127.0.0.1:{port}", "--workers", "2"), "portal:create_app()"]
    with note_server_log(log_path).open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_answering(
            process,
            f"{url}/readyz",
            READY_TIMEOUT_S,
            "gunicorn",
            lambda: f"last lines of {log_path}:\n{log_tail(log_path, LOG_TAIL_LINES)}",
        )
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def portal_url(live_portal: LivePortal) -> str:
    return live_portal.url


@pytest.fixture(scope="session")
def base_url(portal_url: str) -> str:
    """pytest-playwright gives it to every browser context, so that `page.goto("/path")` works too."""
    return portal_url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # Playwright cannot download its own browsers here: use Debian's Chromium, headless unless --headed.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="session")
def signed_in_state(
    browser: Browser, browser_context_args: dict[str, Any], live_portal: LivePortal, local_accounts: LocalAccounts
) -> dict[str, Any]:
    """The cookies of a browser signed in once, through the real form, as the local admin."""
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    page.goto(f"{live_portal.url}/auth/login")
    page.get_by_label("Login", exact=True).fill(local_accounts.admin.login)
    page.get_by_label("Password", exact=True).fill(local_accounts.admin.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{live_portal.url}/")
    state = context.storage_state()
    context.close()
    return dict(state)


@pytest.fixture
def signed_in_context(
    new_context: Callable[..., BrowserContext], signed_in_state: dict[str, Any]
) -> Callable[..., BrowserContext]:
    """`signed_in_context(**options)`: a new browser context with the admin's session. Made by pytest-playwright's
    `new_context`, it is closed after the test and leaves a trace and screenshots when the test fails; `options`
    may not repeat `browser_context_args` (the viewport: set it on the page)."""
    return lambda **options: new_context(**options, storage_state=signed_in_state)


@pytest.fixture
def signed_in_page(signed_in_context: Callable[..., BrowserContext]) -> Page:
    """A page of a browser signed in as the local admin."""
    return signed_in_context().new_page()


# --- The ingestion journeys: accounts of the roles in between, an ingest token, data loaded with the CLI ---------


@dataclass(frozen=True)
class RoleAccounts:
    """Local accounts of the roles between reader and admin, made once per run with the CLI."""

    steward: Account  # role steward: imports, conflicts, pushes (through its ingest token)
    editor: Account  # role editor: edits an application's fields by hand


@pytest.fixture(scope="session")
def portal_cli(database_url: str, portal_secret_key: str) -> Callable[..., str]:
    """`portal_cli("sources", "list", env={...})`: the portal's `flask` command on the e2e database (with `env`
    added to its environment); returns what it printed. For data the tests need first, as an admin would load it."""
    base = portal_environment(DATABASE_URL=database_url, SECRET_KEY=portal_secret_key)

    def run(*args: str, env: dict[str, str] | None = None) -> str:
        return flask_cli({**base, **(env or {})}, *args)

    return run


@pytest.fixture(scope="session")
def role_accounts(portal_cli: Callable[..., str]) -> RoleAccounts:
    accounts = RoleAccounts(
        steward=Account("steward", secrets.token_urlsafe(18)), editor=Account("editor", secrets.token_urlsafe(18))
    )
    for account, role in ((accounts.steward, "steward"), (accounts.editor, "editor")):
        portal_cli(
            *("users", "create", account.login, "--role", role, "--password-env", "E2E_ACCOUNT_PASSWORD"),
            env={"E2E_ACCOUNT_PASSWORD": account.password},
        )
    return accounts


@pytest.fixture(scope="session")
def ingest_token(portal_cli: Callable[..., str], role_accounts: RoleAccounts) -> str:
    """The secret of an API token with the ingest scope, owned by the steward, as NiFi's would be."""
    output = portal_cli(
        *("tokens", "create", "--user", role_accounts.steward.login, "--name", "e2e-pusher", "--scope", "ingest")
    )
    return note_token_secret(output.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def import_workbook(portal_cli: Callable[..., str], tmp_path_factory: pytest.TempPathFactory) -> Callable[..., int]:
    """`import_workbook(xlsx_bytes, source="workbook")`: apply a workbook with `flask import --apply`; returns the
    number of its import run."""
    folder = tmp_path_factory.mktemp("workbooks")

    def apply(data: bytes, source: str = "workbook") -> int:
        path = folder / f"{secrets.token_hex(4)}.xlsx"
        path.write_bytes(data)
        output = portal_cli("import", str(path), "--source", source, "--apply")
        found = re.search(r"Applied as import run (\d+)", output)
        assert found, f"`flask import` did not apply {path.name}:\n{output}"
        return int(found.group(1))

    return apply


@pytest.fixture
def sign_in_as(new_context: Callable[..., BrowserContext], live_portal: LivePortal) -> Callable[[Account], Page]:
    """`sign_in_as(account)`: a page of a new browser context, signed in as `account` through the sign-in form
    (on the home page); made by `new_context`, as `signed_in_context`'s are."""

    def open_page(account: Account) -> Page:
        page = new_context().new_page()
        page.goto(f"{live_portal.url}/auth/login")
        page.get_by_label("Login", exact=True).fill(account.login)
        page.get_by_label("Password", exact=True).fill(account.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{live_portal.url}/")
        return page

    return open_page
