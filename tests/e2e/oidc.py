"""Run the loopback OpenID Connect provider (``tests/e2e/oidc_server/server.mjs``) for end-to-end tests.

The provider is the npm package ``oidc-provider`` installed at the repository root (``npm ci``). See the comment at
the top of ``server.mjs`` for the accounts, scopes and pages it offers.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = REPO_ROOT / "tests" / "e2e" / "oidc_server" / "server.mjs"

STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
_POLL_INTERVAL_S = 0.1


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_log(log: IO[bytes]) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", errors="replace").strip()


def answers_200(url: str) -> bool:
    """Tell whether ``url`` answers 200 right now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
    except (OSError, http.client.HTTPException):  # URLError, HTTPError and socket errors are all OSError
        return False
    return status == 200


def wait_until_answering(
    process: subprocess.Popen, url: str, timeout_s: float, name: str, output: Callable[[], str]
) -> None:
    """Wait until `url` answers 200, or raise `RuntimeError` with `output()` if `process` exits or
    `timeout_s` passes first: a server that cannot start says why instead of hanging the tests."""
    deadline = time.monotonic() + timeout_s
    while not answers_200(url):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} before it was ready:\n{output()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer {url} within {timeout_s:.0f} s:\n{output()}")
        time.sleep(_POLL_INTERVAL_S)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, and kill it if it is still running after ``STOP_TIMEOUT_S`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_oidc_provider(
    port: int,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    post_logout_redirect_uri: str,
) -> Iterator[str]:
    """Run the test OpenID Connect provider on ``127.0.0.1:port`` for the duration of the ``with`` block.

    The provider knows one confidential client, described by the other arguments. The context manager yields the
    issuer URL (``http://127.0.0.1:<port>``) once ``<issuer>/.well-known/openid-configuration`` answers 200, and stops
    the provider on exit (SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S`` seconds).

    Raises:
        RuntimeError: ``node`` is not installed, the provider exited before it was ready (the message then carries
            its stderr), or it was not ready within ``STARTUP_TIMEOUT_S`` seconds.
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed: the test OpenID Connect provider needs Node.js")
    if not (REPO_ROOT / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(f"oidc-provider is not installed: run `npm ci` in {REPO_ROOT}")

    issuer = f"http://127.0.0.1:{port}"
    discovery_url = f"{issuer}/.well-known/openid-configuration"
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_REDIRECT_URI": redirect_uri,
        "OIDC_POST_LOGOUT_REDIRECT_URI": post_logout_redirect_uri,
    }

    # Files rather than pipes: nobody reads the output while the provider runs, and a full pipe would block it.
    with (
        tempfile.TemporaryFile(prefix="oidc-provider-stdout-") as stdout_log,
        tempfile.TemporaryFile(prefix="oidc-provider-stderr-") as stderr_log,
    ):
        process = subprocess.Popen(
            [node, str(SERVER_SCRIPT)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout_log,
            stderr=stderr_log,
        )
        try:
            wait_until_answering(
                process,
                discovery_url,
                STARTUP_TIMEOUT_S,
                "the test OpenID Connect provider",
                lambda: f"stderr:\n{_read_log(stderr_log)}",
            )
            if process.poll() is not None:  # something else answered on that port
                raise RuntimeError(
                    f"the test OpenID Connect provider exited with code {process.returncode}; stderr:\n"
                    f"{_read_log(stderr_log)}"
                )
            yield issuer
        finally:
            stop_process(process)
