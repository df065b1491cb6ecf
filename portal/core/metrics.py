"""Prometheus metrics: requests, searches, the database pool, and gauges computed when scraped.

gunicorn runs several worker processes and a scrape reaches one of them. With `PROMETHEUS_MULTIPROC_DIR`
set (to an empty directory, before gunicorn starts), every worker writes its values to files there and
the answering worker adds them all up: prometheus-client's multiprocess mode, which it chooses when it
is first imported. Without it (one process: `flask run`, the tests) the values live in this process.

Labels stay bounded: a request is counted under its Flask endpoint (never its raw path), a method
outside the usual ones counts as "other", and a URL that matches no route as endpoint "none".
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# In multiprocess mode the metrics below write their files there as soon as they are created.
if os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
    Path(os.environ[MULTIPROCESS_DIRECTORY_VARIABLE]).mkdir(parents=True, exist_ok=True)

REQUESTS = Counter(
    "portal_http_requests_total",
    "HTTP requests answered, by Flask endpoint, method and status.",
    ["endpoint", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the start of a request to its last byte sent, by Flask endpoint, method and status.",
    ["endpoint", "method", "status"],
)
SEARCH_SECONDS = Histogram(
    "portal_search_duration_seconds",
    "Application searches computed (shared cache hits aside): kind=text for a ranked search, "
    "kind=filters for a filtered listing.",
    ["kind"],
)
# "livesum": the sum over the workers alive now (a worker's values go when gunicorn reaps it).
POOL_CHECKED_OUT = Gauge(
    "portal_db_pool_checked_out_connections",
    "Database connections lent to requests right now, summed over the workers.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "portal_db_pool_size_connections",
    "Database connections each worker's pool keeps open, summed over the workers.",
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "portal_db_pool_overflow_connections",
    "Database connections open beyond the pool size right now, summed over the workers.",
    multiprocess_mode="livesum",
)


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    labels = (endpoint or "none", method if method in METHODS else "other", str(status))
    REQUESTS.labels(*labels).inc()
    REQUEST_SECONDS.labels(*labels).observe(seconds)


def timed_search(search: F) -> F:
    """Time each call of `search(session, filters, ...)`; `filters.q` tells a text search from a listing."""

    @functools.wraps(search)
    def timed(session: Any, filters: Any, *args: Any, **kwargs: Any) -> Any:
        with SEARCH_SECONDS.labels("text" if filters.q else "filters").time():
            return search(session, filters, *args, **kwargs)

    return timed  # type: ignore[return-value]


class _PoolUse:
    """One engine's pool, followed through its events: the gauges change when the pool does, in the
    worker where it happens (a scrape-time reading would only see the worker answering the scrape)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.open = 0
        self.lent = 0
        self._lock = threading.Lock()

    def change(self, opened: int = 0, lent: int = 0) -> None:
        with self._lock:
            self.open += opened
            self.lent += lent
            POOL_CHECKED_OUT.set(self.lent)
            POOL_OVERFLOW.set(max(0, self.open - self.size))


def track_pool(engine: Engine) -> None:
    """Follow `engine`'s connection pool in the pool gauges (pools without a size, e.g. SQLite in
    memory, are left out)."""
    size = getattr(engine.pool, "size", None)
    if size is None:
        return
    use = _PoolUse(size())
    POOL_SIZE.set(use.size)
    POOL_CHECKED_OUT.set(0)
    POOL_OVERFLOW.set(0)
    event.listen(engine, "connect", lambda *_: use.change(opened=1))
    event.listen(engine, "close", lambda *_: use.change(opened=-1))
    event.listen(engine, "checkout", lambda *_: use.change(lent=1))
    event.listen(engine, "checkin", lambda *_: use.change(lent=-1))


@dataclass(frozen=True)
class _CallbackGauge:
    name: str
    documentation: str
    labels: tuple[str, ...]
    read: Callable[[], Iterable[Sequence[Any]]]


_callback_gauges: dict[str, _CallbackGauge] = {}


def register_gauge_collector(
    name: str,
    documentation: str,
    labels: Sequence[str],
    read: Callable[[], Iterable[Sequence[Any]]],
) -> None:
    """Add a gauge whose values `read()` computes at each scrape: rows of label values (in the order of
    `labels`) followed by the value, which is the shape of a `SELECT label, count(*) ... GROUP BY label`.

    `read` runs inside the scrape's request, so it may query `db.session`; its answer is the same
    whichever worker is scraped, which is why this suits state kept in the database (import runs by
    status, say) and not a worker's own state. Registering a name again replaces it. Should `read`
    fail, the scrape goes on without that gauge and the error is logged.
    """
    _callback_gauges[name] = _CallbackGauge(name, documentation, tuple(labels), read)


def _collect_callback_gauges() -> Iterator[Metric]:
    for gauge in list(_callback_gauges.values()):
        try:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            for *label_values, value in gauge.read():
                if len(label_values) != len(gauge.labels):
                    raise ValueError(f"{len(label_values)} label values for labels {gauge.labels}")
                family.add_metric([str(label) for label in label_values], float(value))
        except Exception:  # one broken gauge must not take the others down
            log.exception("gauge %s could not be read; left out of this scrape", gauge.name)
            continue
        yield family


class _Scrape:
    """What one scrape exposes: every worker's files (multiprocess) or this process's registry, then the
    gauges computed now."""

    def collect(self) -> Iterator[Metric]:
        directory = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)
        if directory:
            yield from MultiProcessCollector(None, path=directory).collect()
        else:
            yield from REGISTRY.collect()
        yield from _collect_callback_gauges()


def render_metrics(accept: str | None) -> tuple[bytes, str]:
    """The exposition in the format the scraper asks for (Prometheus text by default) and its content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_Scrape()), content_type


# gunicorn server hooks, for its configuration file (`from portal.core.metrics import on_starting, child_exit`).


def on_starting(_server: Any) -> None:
    """Empty the multiprocess directory before the first worker starts: a previous run's files would be
    added to this run's counts."""
    directory = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def child_exit(_server: Any, worker: Any) -> None:
    """Drop a finished worker's live gauges (its pool use); its counters and histograms are kept."""
    directory = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)
    if directory:
        mark_process_dead(worker.pid, directory)
