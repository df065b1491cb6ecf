"""A real HTTP server on loopback answering scripted fixture replies, to test pulls from REST APIs.

A test scripts what a path (optionally with query parameters) answers, reply after reply: JSON pages,
raw bytes, status codes, a delay longer than the client's timeout. The last reply of a script repeats.
The server records every request it got, so a test can check a header or count the retries.
It speaks HTTP/1.1 with keep-alive, as real APIs do, so connection reuse by the client is exercised.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `delay` is waited before answering (beyond the client's timeout: a timeout);
    `pace` is waited before each byte of the body (an API trickling its answer)."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    delay: float = 0.0
    pace: float = 0.0

    @classmethod
    def json(cls, data: Any, status: int = 200, delay: float = 0.0, **headers: str) -> Reply:
        extra = tuple((name.replace("_", "-"), value) for name, value in headers.items())
        return cls(status, json.dumps(data).encode(), (("Content-Type", "application/json"), *extra), delay)


@dataclass(frozen=True)
class Received:
    """A request the server got: its path, query parameters and headers (names lower-cased)."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Script:
    path: str
    query: dict[str, str]
    replies: list[Reply] = field(default_factory=list)

    def matches(self, path: str, query: dict[str, str]) -> bool:
        return path == self.path and all(query.get(name) == value for name, value in self.query.items())

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class FixtureApi:
    """The server and its scripts. Unscripted paths answer 404."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.fixture_api = self  # type: ignore[attr-defined]
        # serve_forever checks for shutdown once per poll interval (0.5 s by default): every test would wait it.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self.received: list[Received] = []
        # Set at stop so that a reply still waiting out its delay ends at once.
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, target: str, *replies: Reply) -> None:
        """What `target` (`/apps` or `/apps?page=2`) answers, in order. A request matches a script when
        its path is the same and it has the script's query parameters; the most specific script wins."""
        parts = urlsplit(target)
        with self._lock:
            self._scripts.append(_Script(parts.path, dict(parse_qsl(parts.query)), list(replies)))

    def requests_to(self, path: str) -> list[Received]:
        return [request for request in self.received if request.path == path]

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.received.append(Received(path, query, headers))
            candidates = [script for script in self._scripts if script.matches(path, query)]
            if not candidates:
                return Reply.json({"error": f"no fixture for {path}"}, status=404)
            # The most specific script wins; among equals, the latest (a test may re-script a path).
            return max(reversed(candidates), key=lambda script: len(script.query)).next_reply()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def running_api() -> Iterator[FixtureApi]:
    api = FixtureApi()
    api.start()
    try:
        yield api
    finally:
        api.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        # The client may close a kept-alive connection it gave up on: nothing to report.
        with suppress(ConnectionError):
            super().handle()

    def do_GET(self) -> None:
        api: FixtureApi = self.server.fixture_api  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = api.answer(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)), headers)
        if reply.delay and api.stopping.wait(reply.delay):
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self._write(api, reply)
        except OSError:
            # The client gave up waiting (its timeout) and closed the connection: nothing to answer.
            self.close_connection = True

    def _write(self, api: FixtureApi, reply: Reply) -> None:
        if not reply.pace:
            self.wfile.write(reply.body)
            return
        for byte in reply.body:
            if api.stopping.wait(reply.pace):
                self.close_connection = True
                return
            self.wfile.write(bytes([byte]))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the tests."""
