"""What the end-to-end and fault suites do to a running portal as its users would: the operator's command line,
and a browser's forms (their CSRF token) driven without a browser."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# A demo load or a migration of a fresh database, on a slow machine.
CLI_TIMEOUT_S = 180
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


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


def csrf_token(browser: requests.Session, url: str, timeout: float = 10) -> str:
    """The CSRF token of `browser`'s session, read from a form of the page at `url`."""
    page = browser.get(url, timeout=timeout)
    page.raise_for_status()
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF field on {url}"
    return match.group(1)
