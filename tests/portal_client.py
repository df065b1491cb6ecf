"""What the end-to-end and fault suites do to a running portal as its users would: the operator's command line,
and a browser's forms (sign-in, a workbook's upload) driven without a browser, with the waits they need."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
# The executables of the interpreter running pytest (the venv's), whatever the current directory.
BIN = Path(sys.executable).parent
# A demo load or a migration of a fresh database, on a slow machine.
CLI_TIMEOUT_S = 180
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTTP_TIMEOUT_S = 10
# An import run works in a background thread of the server: how long its dry run or apply may take in a test.
RUN_TIMEOUT_S = 30
RUN_PAGE = re.compile(r"/imports/(\d+)$")


def flask_cli(env: dict[str, str], *args: str) -> str:
    """Run `flask <args>` with `env`, as an operator would; returns what it printed on stdout."""
    command = [str(BIN / "flask"), "--app", "portal", *args]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`flask {' '.join(args)}` exited with code {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def flask_cli_together(*commands: tuple[dict[str, str], list[str]]) -> list[str]:
    """Run independent `flask` commands (environment, arguments) at the same time: each spends seconds loading the
    application first. Returns what each printed, in order."""
    with ThreadPoolExecutor(len(commands) or 1) as pool:
        return list(pool.map(lambda command: flask_cli(command[0], *command[1]), commands))


def portal_environment(**portal_settings: str) -> dict[str, str]:
    """This process's environment without any PORTAL_* variable of the developer's, plus `portal_settings`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PORTAL_")}
    env.update({f"PORTAL_{name}": value for name, value in portal_settings.items()})
    return env


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a server's log, for the message of a test that failed because of it."""
    if not path.exists():
        return f"({path} was not written)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def csrf_token(browser: requests.Session, url: str, timeout: float = 10) -> str:
    """The CSRF token of `browser`'s session, read from a form of the page at `url`."""
    page = browser.get(url, timeout=timeout)
    page.raise_for_status()
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF field on {url}"
    return match.group(1)


def sign_in(browser: requests.Session, portal_url: str, login: str, password: str) -> requests.Response:
    """Submit the sign-in form as `login` (303 when it worked)."""
    form = {"login": login, "password": password, "next": "/"}
    form["csrf_token"] = csrf_token(browser, f"{portal_url}/auth/login")
    return browser.post(f"{portal_url}/auth/login", data=form, allow_redirects=False, timeout=HTTP_TIMEOUT_S)


def upload_workbook(browser: requests.Session, portal_url: str, filename: str, data: bytes) -> int:
    """Upload a workbook as the Imports form does (multipart, with the CSRF token); returns its run's number."""
    form = {"source": "workbook", "csrf_token": csrf_token(browser, f"{portal_url}/imports")}
    answer = browser.post(
        f"{portal_url}/imports",
        data=form,
        files={"file": (filename, data, XLSX)},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT_S,
    )
    assert answer.status_code == 303, answer.text
    found = RUN_PAGE.search(answer.headers["Location"])
    assert found, f"the upload sent the browser to {answer.headers['Location']}"
    return int(found.group(1))


def import_run(browser: requests.Session, portal_url: str, run_id: int) -> dict[str, Any]:
    """The run as `GET /api/v1/imports/<id>` shows it."""
    answer = browser.get(f"{portal_url}/api/v1/imports/{run_id}", timeout=HTTP_TIMEOUT_S)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def run_once(browser: requests.Session, portal_url: str, run_id: int, *statuses: str) -> dict[str, Any]:
    """The run as the API shows it once its status is one of `statuses`; fails, showing the run, past
    `RUN_TIMEOUT_S`."""
    found: dict[str, Any] = {}

    def reached() -> bool:
        found.update(import_run(browser, portal_url, run_id))
        return found["status"] in statuses

    try:
        wait_for(reached, RUN_TIMEOUT_S, f"import run {run_id} {' or '.join(statuses)}", 0.1)
    except AssertionError as error:
        raise AssertionError(f"{error}; it is {found['status']}: {found}") from None
    return found


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.05) -> float:
    """Wait until `condition()` is true; returns how many seconds it took. Raises `AssertionError` naming `what`
    after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(interval_s)
    return time.monotonic() - started
