"""A small load generator for the fault tests: a few clients calling the portal in a loop, every answer kept with
when it started, how long it took and what it was, so that a test can say what happened during a fault."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import requests

# A request that takes longer than this is a hang, whatever the fault.
CLIENT_TIMEOUT_S = 15


@dataclass(frozen=True)
class Call:
    """One kind of request: `name` for the figures, a GET of `path` with `headers` and `cookies` (a browser's)."""

    name: str
    path: str
    headers: dict[str, str] | None = None
    cookies: dict[str, str] | None = None


@dataclass(frozen=True)
class Answer:
    call: str
    started: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no HTTP answer at all (refused, reset)
    content_type: str = ""
    body: str = ""  # a non-200 answer's body, or the exception's text

    @property
    def ended(self) -> float:
        return self.started + self.seconds

    def describe(self) -> str:
        return f"{self.call}: {self.status} {self.content_type} after {self.seconds:.2f} s: {self.body[:200]}"


class Load:
    """`clients` threads, each calling `calls` in turn (a new HTTP connection per request, as clients behind an
    ingress do) until `stop()`; `answers` grows as they go."""

    def __init__(self, base_url: str, calls: list[Call], clients: int) -> None:
        self.base_url = base_url
        self.calls = calls
        self.answers: list[Answer] = []
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(index,), daemon=True) for index in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT_S + 5)

    def _client(self, index: int) -> None:
        turn = index
        while not self._stopping.is_set():
            call = self.calls[turn % len(self.calls)]
            turn += 1
            self.answers.append(self._call(call))

    def _call(self, call: Call) -> Answer:
        started = time.monotonic()
        try:
            answer = requests.get(
                self.base_url + call.path,
                headers={**(call.headers or {}), "Connection": "close"},
                cookies=call.cookies,
                allow_redirects=False,
                timeout=CLIENT_TIMEOUT_S,
            )
        except requests.RequestException as error:
            return Answer(call.name, started, time.monotonic() - started, None, body=f"{type(error).__name__}: {error}")
        body = "" if answer.status_code == 200 else answer.text
        content_type = answer.headers.get("Content-Type", "")
        return Answer(call.name, started, time.monotonic() - started, answer.status_code, content_type, body)

    def between(self, start: float, end: float) -> list[Answer]:
        """The answers to the requests started in [start, end)."""
        return [answer for answer in list(self.answers) if start <= answer.started < end]


def statuses(answers: Iterable[Answer]) -> str:
    """`503 x12, 200 x3`: how many of each status (`no answer` for none)."""
    counts = Counter("no answer" if answer.status is None else str(answer.status) for answer in answers)
    return ", ".join(f"{status} x{count}" for status, count in counts.most_common()) or "none"


def durations(answers: list[Answer]) -> str:
    """`median 12 ms, max 40 ms` of the answers' durations."""
    if not answers:
        return "no request"
    seconds = [answer.seconds for answer in answers]
    return f"median {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"
