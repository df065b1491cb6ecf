"""Sustained load: minutes of a realistic mix against gunicorn and PostgreSQL, with the workers' memory watched.

It copies the dataset database of the asked size (`CREATE DATABASE ... TEMPLATE`: the pushes write, the kept
dataset stays as it is; the copy is dropped at the end, also on Ctrl-C or failure), serves it with gunicorn as
the container image does (`gunicorn --config python:portal.gunicorn_config 'portal:create_app()'`, the address
in PORTAL_BIND), and drives it from N connections for D seconds with a weighted mix:

- JSON search `/api/v1/applications/search?q=...` (queries drawn from the dataset: trigrams, name words and
  phrases, people, hostnames, typos, entities, as bench/search builds them), and the old system's request
  `?Trigram=Bca&page_size=50&page=1`; API detail `/api/v1/applications/<trigram>`; all with a read token;
- the search region as htmx asks it (`/?q=...`, `HX-Request: true`), application pages `/applications/<t>`
  and their History fragment, each connection signed in through the form like a browser;
- every E seconds an export of a search or of a team (`/export?...&format=xlsx|csv`), and every P seconds a
  push of 100 records changing existing applications' descriptions (`POST /api/v1/sources/nifi/records`,
  an ingest token, a new Idempotency-Key each time). One push at a time, as one flow sends them: a second
  concurrent batch of the same source would get its documented 409.

Every request must answer 200; anything else (a redirect to the sign-in page included) or an exception is an
error. The first W seconds are a warm-up: they count for errors but not for the latency table, and the
workers' memory (VmRSS from /proc) sampled at their end is the baseline the growth is measured against.
Worker recycling is off during the run (PORTAL_MAX_REQUESTS=0, see --max-requests): production's recycling
would hide a leak behind restarts.

Only loopback addresses are used, and the run stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))  # bench/pages_bench imports `search_bench` by its bare name

from bench.import_bench import drop_database, ingest_token  # noqa: E402
from bench.pages_bench import browser_password, sign_in  # noqa: E402
from bench.search_bench import (  # noqa: E402
    ADMIN_URL,
    SIZES,
    _percentile,
    _portal_env,
    bench_token,
    build_mix,
    ensure_dataset,
    log,
    redis_reachable,
)

CACHE = ROOT / "bench" / ".cache"
GUNICORN_LOG = CACHE / "load-gunicorn.log"
PUSH_SOURCE = "nifi"  # the push source (and steward) bench/import creates, here in the copy
PUSH_RECORDS = 100
GROWTH_TARGET = 0.10
SAMPLE_SECONDS = 2.0
# Relative weights of the requests every connection draws; exports and pushes come on their own clocks.
WEIGHTS = {
    "search api": 25,
    "search api (old script)": 10,
    "search htmx": 25,
    "application page": 15,
    "history htmx": 10,
    "detail api": 15,
}
KINDS = (*WEIGHTS, "export", "push")


# --- The throwaway database ---------------------------------------------------------------------------


def copy_database(template: str, name: str) -> str:
    """A copy of the `template` database named `name`; waits a little while others are connected to it."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
                break
            except Exception as error:  # another session on the template: PostgreSQL refuses the copy
                if "being accessed by other users" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(2)
    finally:
        admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


# --- What the requests ask for ------------------------------------------------------------------------


@dataclass
class Parameters:
    """Values drawn from the dataset: what people search for, open and export."""

    queries: list[str]
    trigrams: list[str]
    names: dict[str, str]
    prefixes: list[str]
    teams: list[str]


def draw_parameters(url: str, seed: int) -> Parameters:
    queries = [query.text for query in build_mix(url, seed, per_category=100)]
    engine = create_engine(url)
    with engine.connect() as connection:
        names = dict(connection.execute(text("SELECT trigram, name FROM application")).all())
        teams = list(
            connection.execute(
                text(
                    "SELECT e.code FROM entity e WHERE e.kind IN ('team', 'department') "
                    "AND EXISTS (SELECT 1 FROM application a WHERE a.entity_id = e.id) ORDER BY e.code"
                )
            ).scalars()
        )
    engine.dispose()
    trigrams = sorted(names)
    # The old system's scripts ask a trigram's first letters in mixed case: `Trigram=Bca`.
    prefixes = sorted({trigram[:3].capitalize() for trigram in trigrams})
    return Parameters(queries, trigrams, names, prefixes, teams)


@dataclass
class Request:
    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None
    trigrams: list[str] = field(default_factory=list)  # a push's applications


@dataclass
class Result:
    kind: str
    started: float  # seconds since the load began
    seconds: float
    status: int | None  # None: an exception
    size: int = 0
    detail: str = ""


@dataclass
class Schedule:
    """The clocks of the occasional requests, shared by the connections; one push in flight at most."""

    started: float
    export_every: float
    push_every: float
    next_export: float = 0.0
    next_push: float = 0.0
    exports: itertools.count = field(default_factory=itertools.count)
    pushes: itertools.count = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    push_in_flight: threading.Lock = field(default_factory=threading.Lock)
    pushed: list[str] = field(default_factory=list)  # trigrams whose description a push changed

    def __post_init__(self) -> None:
        # The first ones come a few seconds in, spread over the first period.
        self.next_export = self.started + min(5.0, self.export_every)
        self.next_push = self.started + min(8.0, self.push_every)

    def due(self, now: float) -> str | None:
        with self.lock:
            if self.export_every and now >= self.next_export:
                self.next_export += self.export_every
                return "export"
            if self.push_every and now >= self.next_push and self.push_in_flight.acquire(blocking=False):
                self.next_push += self.push_every
                return "push"
        return None


class Mix:
    """Builds each connection's next request."""

    def __init__(self, parameters: Parameters, read_token: str, ingest_token: str, schedule: Schedule, run: str):
        self.p = parameters
        self.api = {"Authorization": f"Bearer {read_token}", "Accept": "application/json"}
        self.ingest = {
            "Authorization": f"Bearer {ingest_token}",
            "Content-Type": "application/json",
        }
        self.schedule = schedule
        self.run = run
        self.kinds = list(WEIGHTS)
        self.weights = list(WEIGHTS.values())

    def next(self, rng: random.Random, cookie: str) -> Request:
        browser = {"Cookie": f"referentiel_session={cookie}"}
        kind = self.schedule.due(time.monotonic()) or rng.choices(self.kinds, self.weights)[0]
        if kind == "search api":
            return Request(kind, "GET", "/api/v1/applications/search?" + _query(q=rng.choice(self.p.queries)), self.api)
        if kind == "search api (old script)":
            query = _query(Trigram=rng.choice(self.p.prefixes), page_size=50, page=1)
            return Request(kind, "GET", "/api/v1/applications/search?" + query, self.api)
        if kind == "search htmx":
            headers = browser | {"HX-Request": "true"}
            return Request(kind, "GET", "/?" + _query(q=rng.choice(self.p.queries)), headers)
        if kind == "application page":
            return Request(kind, "GET", f"/applications/{self._trigram(rng)}", browser)
        if kind == "history htmx":
            headers = browser | {"HX-Request": "true"}
            return Request(kind, "GET", f"/applications/{self._trigram(rng)}/history", headers)
        if kind == "detail api":
            return Request(kind, "GET", f"/api/v1/applications/{self._trigram(rng)}", self.api)
        if kind == "export":
            return self._export(rng, browser)
        return self._push(rng)

    def _trigram(self, rng: random.Random) -> str:
        # A quarter of the visits go to applications a push has just changed: people look at what moved.
        pushed = self.schedule.pushed
        if pushed and rng.random() < 0.25:
            return rng.choice(pushed[-1000:])
        return rng.choice(self.p.trigrams)

    def _export(self, rng: random.Random, browser: dict[str, str]) -> Request:
        number = next(self.schedule.exports)
        if number % 3 == 2:  # a team's (or department's) applications, filtered rather than searched
            query = _query(entity=rng.choice(self.p.teams), format="xlsx")
        else:
            query = _query(q=rng.choice(self.p.queries), format="xlsx" if number % 3 == 0 else "csv")
        return Request("export", "GET", "/export?" + query, browser)

    def _push(self, rng: random.Random) -> Request:
        number = next(self.schedule.pushes)
        trigrams = rng.sample(self.p.trigrams, PUSH_RECORDS)
        records = [
            {
                "type": "application",
                "trigram": trigram,
                "name": self.p.names[trigram],
                "description": f"Description pushed by bench/load, run {self.run}, batch {number}.",
            }
            for trigram in trigrams
        ]
        headers = self.ingest | {"Idempotency-Key": f"bench-load-{self.run}-{number}"}
        body = json.dumps(records).encode()
        return Request("push", "POST", f"/api/v1/sources/{PUSH_SOURCE}/records", headers, body, trigrams)


def _query(**values: object) -> str:
    return urllib.parse.urlencode(values)


# --- The connections ----------------------------------------------------------------------------------


def connection_loop(
    port: int, mix: Mix, cookie: str, seed: int, started: float, deadline: float, results: list[Result]
) -> None:
    """One connection: request after request until the deadline (gunicorn's sync workers close each one)."""
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=150)
    while time.monotonic() < deadline:
        request = mix.next(rng, cookie)
        began = time.monotonic()
        status: int | None = None
        size = 0
        detail = ""
        try:
            connection.request(request.method, request.path, body=request.body, headers=request.headers)
            response = connection.getresponse()
            body = response.read()
            status, size = response.status, len(body)
            if status != 200:
                detail = f"{request.method} {request.path[:120]} -> {status}: {body[:300]!r}"
            elif request.kind == "push":
                detail = body.decode()
            elif request.kind == "export" and size == 0:
                status, detail = None, f"GET {request.path[:120]}: empty export"
            elif request.kind in ("search htmx", "history htmx") and b"<html" in body[:2000].lower():
                status, detail = None, f"GET {request.path[:120]}: a whole page instead of the htmx fragment"
        except Exception as error:  # a refused, reset or timed-out connection is an error like a 5xx
            detail = f"{request.method} {request.path[:120]}: {type(error).__name__}: {error}"
            connection.close()
        finally:
            if request.kind == "push":
                mix.schedule.push_in_flight.release()
        seconds = time.monotonic() - began
        if request.kind == "push" and status == 200:
            mix.schedule.pushed.extend(request.trigrams)
        results.append(Result(request.kind, began - started, seconds, status, size, detail))
    connection.close()


# --- The server and its workers' memory ---------------------------------------------------------------


def gunicorn_environment(
    url: str, port: int, redis_url: str, workers: int | None, max_requests: int, metrics: str
) -> dict[str, str]:
    environment = _portal_env(url, redis_url) | {
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_MAX_REQUESTS": str(max_requests),
        # As in the image: the workers add up their metrics there (emptied by the config's on_starting).
        "PROMETHEUS_MULTIPROC_DIR": metrics,
    }
    if workers is not None:
        environment["PORTAL_WORKERS"] = str(workers)
    return environment


def config_values(environment: dict[str, str]) -> dict[str, int]:
    """What portal.gunicorn_config picks in `environment` (the settings gunicorn will run with)."""
    script = (
        "import json, portal.gunicorn_config as c; print(json.dumps({'workers': c.workers, "
        "'max_requests': c.max_requests, 'jitter': c.max_requests_jitter, 'timeout': c.timeout}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], env=environment, cwd=ROOT, check=True, capture_output=True, text=True
    )
    return json.loads(found.stdout.strip().splitlines()[-1])


def start_gunicorn(environment: dict[str, str], log_file: IO[str]) -> subprocess.Popen:
    """The image's CMD, on the loopback address of PORTAL_BIND."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [gunicorn, "--config", "python:portal.gunicorn_config", "portal:create_app()"]
    return subprocess.Popen(command, env=environment, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)


def wait_ready(process: subprocess.Popen, port: int) -> None:
    """Returns once /readyz answers 200 (the caller stops the server if it never does)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}; see {GUNICORN_LOG}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not become ready within 30 s; see {GUNICORN_LOG}")


def stop_gunicorn(process: subprocess.Popen) -> None:
    """SIGTERM (requests in flight finish), then wait for the master and for the workers it had."""
    workers = children(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The fields after the command name (which may hold spaces) start with state, then ppid.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def rss_kb(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


class MemorySampler(threading.Thread):
    """VmRSS of the master and of each of its workers every few seconds: {pid: [(seconds, kB), ...]}."""

    def __init__(self, master: int, started: float):
        super().__init__(daemon=True)
        self.master = master
        self.started = started
        self.samples: dict[int, list[tuple[float, int]]] = defaultdict(list)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(SAMPLE_SECONDS)

    def sample(self) -> None:
        now = time.monotonic() - self.started
        for pid in [self.master, *children(self.master)]:
            kilobytes = rss_kb(pid)
            if kilobytes is not None:
                self.samples[pid].append((now, kilobytes))


# --- Report -------------------------------------------------------------------------------------------


def latency_table(results: list[Result], measured: float) -> list[str]:
    lines = [
        f"  {'kind':26s} {'requests':>8s} {'req/s':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
        f"{'max ms':>8s} {'errors':>6s}"
    ]
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_kind[result.kind].append(result)
    for kind in (*KINDS, "all"):
        rows = results if kind == "all" else by_kind.get(kind, [])
        if not rows:
            continue
        times = [row.seconds * 1000 for row in rows]
        errors = sum(row.status != 200 for row in rows)
        lines.append(
            f"  {kind:26s} {len(rows):8d} {len(rows) / measured:7.1f} {_percentile(times, 50):8.1f} "
            f"{_percentile(times, 95):8.1f} {_percentile(times, 99):8.1f} {max(times):8.1f} {errors:6d}"
        )
    return lines


def memory_report(
    sampler: MemorySampler, master: int, warmup: float, end: float
) -> tuple[list[str], bool, int, list[int]]:
    """Lines per process, whether every worker judged stayed under the target, restarts, and the workers."""
    workers = [pid for pid in sampler.samples if pid != master]
    initial = [pid for pid in workers if sampler.samples[pid][0][0] < warmup]
    restarted = len(workers) - len(initial)
    # A worker is judged over at least half of the measured phase (all of it when it lived through it).
    least = (end - warmup) / 2
    lines: list[str] = []
    ok = True
    judged = 0
    for pid in [master, *workers]:
        samples = sampler.samples[pid]
        born, last = samples[0][0], samples[-1]
        baseline = next((sample for sample in samples if sample[0] >= max(warmup, born + warmup)), None)
        peak = max(kilobytes for _, kilobytes in samples)
        role = "master" if pid == master else "worker"
        origin = "" if pid == master or born < warmup else f", started at {born:.0f} s"
        if baseline is None or last[0] - baseline[0] < least:
            lines.append(
                f"    {role} {pid:<7d} end {last[1] / 1024:6.1f} MB, peak {peak / 1024:6.1f} MB "
                f"(lived {last[0] - born:.0f} s{origin}: too short to judge)"
            )
            continue
        growth = (last[1] - baseline[1]) / baseline[1]
        verdict = ""
        if pid != master:
            judged += 1
            fits = growth < GROWTH_TARGET
            ok &= fits
            verdict = f"  (target < {GROWTH_TARGET:.0%})  {'OK' if fits else 'MISSED'}"
        gone = "" if last[0] >= end - 2 * SAMPLE_SECONDS - 1 else f", gone at {last[0]:.0f} s"
        lines.append(
            f"    {role} {pid:<7d} at {baseline[0]:3.0f} s {baseline[1] / 1024:6.1f} MB, end {last[1] / 1024:6.1f} MB "
            f"(peak {peak / 1024:6.1f} MB{origin}{gone})  growth {growth:+6.1%}{verdict}"
        )
    if judged == 0:
        lines.append("    no worker lived long enough after its warm-up to judge its memory")
        ok = False
    return lines, ok, restarted, workers


def scan_log(path: Path) -> tuple[int, list[str]]:
    """Lines of the server's output that report a failure (error logs, tracebacks, killed workers)."""
    pattern = re.compile(r'"level": "(error|critical)"|Traceback|WORKER TIMEOUT|\[(ERROR|CRITICAL)\]')
    found = []
    with path.open(errors="replace") as lines:
        for line in lines:
            if pattern.search(line):
                found.append(line.strip()[:300])
    return len(found), found[:5]


class Interrupts:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt, except inside `deferred()`, which raises it on leaving.

    (Not a signal mask: gunicorn would inherit it, and then ignore the SIGTERM that stops it.)"""

    def __init__(self) -> None:
        self.deferring = False
        self.pending = False

    def handle(self, _signal: int, _frame: object) -> None:
        if self.deferring:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            raise KeyboardInterrupt


# --- Main ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seconds", type=int, default=300, help="length of the load, warm-up included")
    parser.add_argument("--warmup", type=int, default=30, help="seconds before the memory baseline and the table")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (default: what portal.gunicorn_config picks)"
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=0,
        help="recycle each worker after this many requests (default 0: off, so that a leak shows; "
        "production's config says 5000)",
    )
    parser.add_argument("--export-every", type=float, default=10.0, help="seconds between exports (0: none)")
    parser.add_argument("--push-every", type=float, default=15.0, help="seconds between push batches (0: none)")
    parser.add_argument("--port", type=int, default=5089)
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="the shared search cache, as in production ('' off)"
    )
    options = parser.parse_args()
    if options.seconds < 10 or not 0 <= options.warmup < options.seconds:
        parser.error("--seconds must be at least 10 and --warmup shorter than it")

    dataset = ensure_dataset(options.size, options.seed)
    redis_url = options.redis_url if options.redis_url and redis_reachable(options.redis_url) else ""
    run = secrets.token_hex(3)
    name = f"referentiel_bench_load_{os.getpid()}"
    # Sessions are signed with the secret key: one for the server and the sign-ins of this run.
    os.environ["PORTAL_SECRET_KEY"] = secrets.token_hex(16)
    server = None
    interrupted = False

    interrupts = Interrupts()
    signal.signal(signal.SIGINT, interrupts.handle)
    signal.signal(signal.SIGTERM, interrupts.handle)
    CACHE.mkdir(exist_ok=True)
    try:
        log(f"copying {dataset.rsplit('/', 1)[1]} to {name}")
        url = copy_database(dataset.rsplit("/", 1)[1], name)
        parameters = draw_parameters(url, options.seed)
        read_token = bench_token(url)
        push_token = ingest_token(url)
        password = browser_password(url)
        with tempfile.TemporaryDirectory(prefix="bench-load-metrics-") as metrics, GUNICORN_LOG.open("w") as log_file:
            environment = gunicorn_environment(
                url, options.port, redis_url, options.workers, options.max_requests, metrics
            )
            settings = config_values(environment)
            production = config_values({k: v for k, v in environment.items() if k != "PORTAL_MAX_REQUESTS"})
            with interrupts.deferred():  # until the process is known, so that the `finally` below stops it
                server = start_gunicorn(environment, log_file)
            wait_ready(server, options.port)
            base = f"http://127.0.0.1:{options.port}"
            # Each connection is a browser signed in through the form (and a script with the read token).
            cookies = [sign_in(base, password) for _ in range(options.connections)]
            started = time.monotonic()
            schedule = Schedule(started, options.export_every, options.push_every)
            mix = Mix(parameters, read_token, push_token, schedule, run)
            sampler = MemorySampler(server.pid, started)
            sampler.start()
            deadline = started + options.seconds
            per_connection: list[list[Result]] = [[] for _ in range(options.connections)]
            threads = [
                threading.Thread(
                    target=connection_loop,
                    args=(options.port, mix, cookies[i], options.seed * 1000 + i, started, deadline, per_connection[i]),
                    daemon=True,
                )
                for i in range(options.connections)
            ]
            log(
                f"{options.connections} connections for {options.seconds} s ({options.warmup} s warm-up), "
                f"{settings['workers']} workers, search cache {'on' if redis_url else 'off'}"
            )
            for thread in threads:
                thread.start()
            while time.monotonic() < deadline:
                time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))
                done = sum(len(rows) for rows in per_connection)
                log(f"{time.monotonic() - started:5.0f} s: {done} requests")
            for thread in threads:
                thread.join(timeout=180)
            ended = time.monotonic() - started
            sampler.sample()
            sampler.halt.set()
            stop_gunicorn(server)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping gunicorn and dropping the copy")
    finally:
        if server is not None:
            stop_gunicorn(server)
        drop_database(name)
    if interrupted:
        return 130

    results = [row for rows in per_connection for row in rows]
    measured = [row for row in results if row.started >= options.warmup]
    warmup_rows = [row for row in results if row.started < options.warmup]
    errors = [row for row in results if row.status != 200]
    measured_seconds = ended - options.warmup
    recycling = (
        f"recycling off (PORTAL_MAX_REQUESTS=0; production's config recycles each worker after "
        f"{production['max_requests']} + 0..{production['jitter']} requests)"
        if settings["max_requests"] == 0
        else f"recycling after {settings['max_requests']} + 0..{settings['jitter']} requests"
    )
    print(
        f"\nSustained load, size {options.size} ({SIZES[options.size]:,} applications, seed {options.seed}), "
        f"gunicorn --config python:portal.gunicorn_config: {settings['workers']} sync workers, {recycling}; "
        f"PostgreSQL (a throwaway copy of the dataset), search cache {'in Redis' if redis_url else 'off'}; "
        f"{options.connections} connections for {ended:.0f} s, the first {options.warmup} s a warm-up"
    )
    print(f"  after the warm-up ({measured_seconds:.0f} s):")
    for line in latency_table(measured, measured_seconds):
        print(line)
    print(
        f"  warm-up: {len(warmup_rows)} requests, {sum(row.status != 200 for row in warmup_rows)} errors "
        f"(not in the table)"
    )
    pushes = [row for row in results if row.kind == "push" and row.status == 200]
    actions: Counter[str] = Counter()
    for row in pushes:
        actions.update({action: count for action, count in json.loads(row.detail)["counts"].items() if count})
    exports = [row for row in results if row.kind == "export" and row.status == 200]
    print(
        f"  pushes: {len(pushes)} batches of {PUSH_RECORDS} records answered 200: {dict(actions)}; "
        f"exports: {len(exports)} answered 200, {sum(row.size for row in exports) / 1024:.0f} KB in all"
    )
    errors_ok = not errors
    print(f"  errors: {len(errors)} (target 0)  {'OK' if errors_ok else 'MISSED'}")
    for row in errors[:5]:
        print(f"    {row.kind} at {row.started:.0f} s: {row.detail[:400]}")
    log_errors, log_examples = scan_log(GUNICORN_LOG)
    print(f"  server log: {log_errors} error lines ({GUNICORN_LOG.relative_to(ROOT)})")
    for line in log_examples:
        print(f"    {line}")
    lines, memory_ok, restarted, workers = memory_report(sampler, server.pid, options.warmup, ended)
    print(
        f"  memory (VmRSS every {SAMPLE_SECONDS:.0f} s; growth from the end of the warm-up to the end): "
        f"{len(workers)} workers seen, {restarted} started during the run"
    )
    for line in lines:
        print(line)
    if settings["max_requests"] == 0 and production["max_requests"]:
        per_worker = len(results) / max(settings["workers"], 1)
        print(
            f"    with production's recycling each worker would have restarted about every "
            f"{production['max_requests'] / per_worker * ended:.0f} s at this rate "
            f"({per_worker:.0f} requests per worker in {ended:.0f} s)"
        )
    passed = errors_ok and memory_ok and log_errors == 0
    print(
        f"  {'PASS' if passed else 'FAIL'}: zero errors (server log included), "
        f"worker memory growth < {GROWTH_TARGET:.0%}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
