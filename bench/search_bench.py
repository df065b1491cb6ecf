"""Search benchmark: throughput, latency and relevance of the JSON search on a generated referential.

It loads a dataset of the asked size into PostgreSQL (once: a database per size is kept between runs),
builds a realistic query mix whose relevant answers are known from the data, serves the portal with
gunicorn as production does, then:

1. relevance: for every query of the mix, is a relevant application in the top 10 (exact trigram: at rank 1)?
2. raw SQL: the database time of each search, measured in-process, beside the whole function's time;
3. load: wrk drives the JSON endpoint with the mix from N concurrent connections for D seconds.

Only loopback addresses are used, and every phase stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.search.text import STOPWORDS, words  # noqa: E402

SIZES = {"XS": 2_000, "S": 20_000, "L": 200_000}
TARGETS = {  # DESIGN.md quality targets for the JSON search
    "S": {"rps": 600, "p95_ms": 25},
    "L": {"rps": 200, "p95_ms": 80},
    "XS": {"rps": 600, "p95_ms": 25},
}
ADMIN_URL = os.environ.get("BENCH_POSTGRESQL_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
CATEGORIES = (
    "exact trigram",
    "trigram prefix",
    "name word",
    "name phrase",
    "person",
    "hostname",
    "one-typo word",
    "entity",
)


@dataclass
class Query:
    category: str
    text: str
    relevant: set[str] = field(repr=False)  # trigrams of the applications that answer it

    @property
    def path(self) -> str:
        return "/api/v1/applications/search?" + urllib.parse.urlencode({"q": self.text, "page_size": 10})


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- Dataset ------------------------------------------------------------------------------------------


def ensure_dataset(size: str, seed: int) -> str:
    """The URL of a PostgreSQL database holding the `size` dataset, generated if missing."""
    name = f"referentiel_bench_{size.lower()}_{seed}"
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    # A database kept from an earlier run is brought to the current schema first (a no-op at head).
    env = _portal_env(url)
    subprocess.run([_flask(), "--app", "portal", "db", "upgrade"], env=env, check=True, cwd=ROOT)
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM application")).scalar_one()
    engine.dispose()
    if count != SIZES[size]:
        log(f"loading dataset {size} (seed {seed}) into {name}")
        started = time.perf_counter()
        subprocess.run(
            [_flask(), "--app", "portal", "demo-data", "--size", size, "--seed", str(seed), "--replace"],
            env=env,
            check=True,
            cwd=ROOT,
        )
        log(f"dataset loaded in {time.perf_counter() - started:.1f} s")
    return url


def _flask() -> str:
    return str(Path(sys.executable).parent / "flask")


def _portal_env(url: str, redis_url: str = "") -> dict[str, str]:
    secret_key = os.environ.get("PORTAL_SECRET_KEY") or os.urandom(16).hex()
    environment = os.environ | {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": secret_key}
    environment["PORTAL_REDIS_URL"] = redis_url
    # A fresh key prefix per run: the cache starts empty.
    environment["PORTAL_REDIS_PREFIX"] = f"referentiel-bench-{os.urandom(4).hex()}:"
    return environment


def bench_token(url: str) -> str:
    """A read token of a bench account, so that the load passes the same access check as scripts do."""
    return account_token(url, "bench-script", "reader", "read")


def account_token(url: str, login: str, role: str, scope: str) -> str:
    """A one-day token of `scope` for the account `login` (created with `role` unless it exists already)."""
    environment = _portal_env(url)
    flask = [_flask(), "--app", "portal"]
    # Exits non-zero when the account exists already (from an earlier run): that is fine.
    subprocess.run(
        [*flask, "users", "create", login, "--role", role, "--no-password"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
    )
    created = subprocess.run(
        [*flask, "tokens", "create", "--user", login, "--name", "bench", "--scope", scope, "--expires-in-days", "1"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return created.stdout.strip()


# --- Query mix with known answers ---------------------------------------------------------------------


def build_mix(url: str, seed: int, per_category: int) -> list[Query]:
    rng = random.Random(seed)
    engine = create_engine(url)
    with engine.connect() as connection:
        apps = connection.execute(text("SELECT id, trigram, name, entity_id FROM application ORDER BY id")).all()
        trigram_of = {row.id: row.trigram for row in apps}
        name_words = {row.trigram: words(row.name) for row in apps}
        by_word: dict[str, set[str]] = defaultdict(set)
        for trigram, items in name_words.items():
            for word in items:
                by_word[word].add(trigram)
        vocabulary = set(by_word)
        for (term,) in connection.execute(text("SELECT term FROM search_term_variant WHERE variant = term")):
            vocabulary.add(term)
        sample = rng.sample(apps, min(per_category * 3, len(apps)))
        mix: list[Query] = []

        for row in sample[:per_category]:
            mixed = "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in row.trigram)
            mix.append(Query("exact trigram", mixed, {row.trigram}))
        for row in sample[:per_category]:
            prefix = row.trigram[:2]
            mix.append(
                Query("trigram prefix", prefix.lower(), {t for t in trigram_of.values() if t.startswith(prefix)})
            )
        for row in sample[:per_category]:
            candidates = [w for w in name_words[row.trigram] if len(w) >= 4 and w not in STOPWORDS and not w.isdigit()]
            if candidates:
                word = rng.choice(candidates)
                mix.append(Query("name word", word, by_word[word]))
        for row in sample[:per_category]:
            phrase_words = row.name.split()
            if len(phrase_words) >= 2:
                start = rng.randrange(0, len(phrase_words) - 1)
                phrase = " ".join(phrase_words[start : start + rng.choice((2, 3))])
                wanted = [w for w in words(phrase) if w not in STOPWORDS] or words(phrase)
                relevant = {t for t, ws in name_words.items() if all(w in ws for w in wanted)}
                mix.append(Query("name phrase", phrase, relevant))
        for row in sample[:per_category]:
            word = next((w for w in name_words[row.trigram] if len(w) >= 5 and not w.isdigit()), None)
            if word:
                typo = _one_typo(rng, word, vocabulary)
                if typo:
                    mix.append(Query("one-typo word", typo, by_word[word]))

        people = connection.execute(
            text(
                "SELECT p.id, p.display_name FROM person p WHERE EXISTS "
                "(SELECT 1 FROM stakeholder s WHERE s.person_id = p.id) ORDER BY p.id"
            )
        ).all()
        # A name cannot tell namesakes apart (a large bank has several Marie Martin): the applications of
        # everyone with that name answer the query.
        by_name: dict[str, set[str]] = defaultdict(set)
        for display_name, application_id in connection.execute(
            text("SELECT p.display_name, s.application_id FROM stakeholder s JOIN person p ON p.id = s.person_id")
        ):
            by_name[display_name].add(trigram_of[application_id])
        for person in rng.sample(people, min(per_category, len(people))):
            mix.append(Query("person", person.display_name, by_name[person.display_name]))

        hosts = connection.execute(
            text(
                "SELECT c.name, e.application_id FROM component c JOIN environment e ON e.id = c.environment_id "
                "WHERE c.kind = 'server' ORDER BY c.id"
            )
        ).all()
        for host in rng.sample(hosts, min(per_category, len(hosts))):
            mix.append(Query("hostname", host.name, {trigram_of[host.application_id]}))

        entities = connection.execute(text("SELECT id, name, parent_id FROM entity ORDER BY id")).all()
        children: dict[int | None, list[int]] = defaultdict(list)
        for entity in entities:
            children[entity.parent_id].append(entity.id)
        apps_of: dict[int, set[str]] = defaultdict(set)
        for row in apps:
            if row.entity_id:
                apps_of[row.entity_id].add(row.trigram)

        def subtree_apps(entity_id: int) -> set[str]:
            found = set(apps_of[entity_id])
            for child in children[entity_id]:
                found |= subtree_apps(child)
            return found

        # Teams in different departments may share a name ("Squad Fiscalité"): all of them answer it.
        apps_by_entity_name: dict[str, set[str]] = defaultdict(set)
        for entity in entities:
            apps_by_entity_name[entity.name] |= subtree_apps(entity.id)
        with_apps = [entity for entity in entities if subtree_apps(entity.id)]
        for entity in rng.sample(with_apps, min(per_category, len(with_apps))):
            mix.append(Query("entity", entity.name, apps_by_entity_name[entity.name]))
    engine.dispose()
    return mix


def _one_typo(rng: random.Random, word: str, vocabulary: set[str]) -> str | None:
    """`word` with one deterministic edit that is not itself a known word."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(20):
        index = rng.randrange(1, len(word) - 1)
        kind = rng.choice(("swap", "delete", "insert", "substitute"))
        if kind == "swap":
            typo = word[:index] + word[index + 1] + word[index] + word[index + 2 :]
        elif kind == "delete":
            typo = word[:index] + word[index + 1 :]
        elif kind == "insert":
            typo = word[:index] + rng.choice(letters) + word[index:]
        else:
            typo = word[:index] + rng.choice(letters) + word[index + 1 :]
        if typo != word and typo not in vocabulary:
            return typo
    return None


# --- Server -------------------------------------------------------------------------------------------


def start_server(url: str, port: int, workers: int, redis_url: str = "") -> subprocess.Popen:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [
        gunicorn,
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "-",
        "--log-level",
        "warning",
        "portal:create_app()",
    ]
    process = subprocess.Popen(command, env=_portal_env(url, redis_url), cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("gunicorn did not become ready within 30 s")


def get_json(base: str, path: str, token: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


# --- Measurements -------------------------------------------------------------------------------------


def measure_relevance(base: str, mix: list[Query], token: str) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    by_category: dict[str, list[Query]] = defaultdict(list)
    for query in mix:
        by_category[query.category].append(query)
    misses: list[str] = []
    for category in CATEGORIES:
        queries = by_category.get(category, [])
        in_top10 = first = 0
        for query in queries:
            results = [item["trigram"] for item in get_json(base, query.path, token)["results"]]
            hit = bool(set(results[:10]) & query.relevant)
            in_top10 += hit
            first += bool(results) and results[0] in query.relevant
            if not hit and len(misses) < 12:
                misses.append(f"{category}: {query.text!r} -> {results[:5]}")
        total = max(len(queries), 1)
        figures[category] = {"queries": len(queries), "top10": in_top10 / total, "rank1": first / total}
    if misses:
        log("examples of misses: " + "; ".join(misses))
    return figures


def measure_sql(url: str, mix: list[Query]) -> dict[str, float]:
    """Database time and whole-function time of each search, in-process, one at a time."""
    os.environ.update(_portal_env(url))
    from portal import create_app
    from portal.applications.queries import ApplicationFilters
    from portal.applications.search import search_applications
    from portal.core.pagination import PageRequest
    from portal.extensions import db

    app = create_app()
    sql_times: list[float] = []
    total_times: list[float] = []
    with app.app_context():
        assert db.engine is not None
        spent = [0.0]

        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info["started"] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):
            spent[0] += time.perf_counter() - conn.info.pop("started")

        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
        for query in mix * 2:
            spent[0] = 0.0
            started = time.perf_counter()
            search_applications(db.session, ApplicationFilters(q=query.text), PageRequest(1, 10))
            total_times.append(time.perf_counter() - started)
            sql_times.append(spent[0])
            db.session.rollback()
    return {
        "sql_p50_ms": _percentile(sql_times, 50) * 1000,
        "sql_p95_ms": _percentile(sql_times, 95) * 1000,
        "function_p50_ms": _percentile(total_times, 50) * 1000,
        "function_p95_ms": _percentile(total_times, 95) * 1000,
    }


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


WRK_SCRIPT = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
local next_id = 0
%(headers)s
function setup(thread) thread:set("id", next_id); next_id = next_id + 1 end
function init(args) counter = id * 7919 end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "socket_errors": %%d, ' ..
    '"p50_us": %%d, "p95_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def run_wrk(
    base: str, paths: list[str], headers: dict[str, str], clients: int, duration: int, threads: int
) -> dict[str, float]:
    """Drive `paths` round-robin from `clients` connections for `duration` seconds, sending `headers`."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as folder:
        paths_file = Path(folder) / "paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        script = Path(folder) / "mix.lua"
        lua_headers = "\n".join(
            f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in headers.items()
        )
        script.write_text(WRK_SCRIPT % {"paths": paths_file, "headers": lua_headers})
        command = [
            wrk,
            f"--threads={threads}",
            f"--connections={clients}",
            f"--duration={duration}s",
            "--timeout=5s",
            f"--script={script}",
            base,
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    raw = json.loads(line[len("WRK_JSON ") :])
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non2xx": raw["non2xx"],
        "socket_errors": raw["socket_errors"],
    }


# --- Main ---------------------------------------------------------------------------------------------


def redis_reachable(redis_url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(redis_url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def print_load(label: str, load: dict[str, float], target: dict[str, int]) -> bool:
    rps_ok = load["rps"] >= target["rps"]
    p95_ok = load["p95_ms"] <= target["p95_ms"]
    print(f"  {label}")
    print(f"    throughput   {load['rps']:8.1f} req/s   (target >= {target['rps']})  {'OK' if rps_ok else 'MISSED'}")
    print(f"    latency p50  {load['p50_ms']:8.2f} ms")
    print(
        f"    latency p95  {load['p95_ms']:8.2f} ms      (target <= {target['p95_ms']})  {'OK' if p95_ok else 'MISSED'}"
    )
    print(f"    latency p99  {load['p99_ms']:8.2f} ms")
    print(
        f"    requests     {load['requests']:8d}        "
        f"non-2xx: {load['non2xx']}, socket errors: {load['socket_errors']}"
    )
    return rps_ok and p95_ok and load["non2xx"] == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load (at least 10)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--per-category", type=int, default=100, help="queries per category of the mix")
    parser.add_argument("--port", type=int, default=5087)
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="also measure with the shared search cache in this Redis ('' to skip)",
    )
    options = parser.parse_args()
    if options.duration < 10:
        parser.error("--duration must be at least 10 seconds")

    url = ensure_dataset(options.size, options.seed)
    mix = build_mix(url, options.seed, options.per_category)
    log(f"query mix: {len(mix)} queries in {len(CATEGORIES)} categories")
    paths = [query.path for query in random.Random(options.seed).sample(mix, len(mix))]
    base = f"http://127.0.0.1:{options.port}"
    token = bench_token(url)
    auth = {"Authorization": f"Bearer {token}"}
    server = start_server(url, options.port, options.workers)
    try:
        relevance = measure_relevance(base, mix, token)
        sql = measure_sql(url, mix)
        uncached = run_wrk(base, paths, auth, options.clients, options.duration, options.threads)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    cached = None
    if options.redis_url and redis_reachable(options.redis_url):
        server = start_server(url, options.port, options.workers, options.redis_url)
        try:
            cached = run_wrk(base, paths, auth, options.clients, options.duration, options.threads)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

    target = TARGETS[options.size]
    print(
        f"\nSearch benchmark, size {options.size} ({SIZES[options.size]:,} applications, seed {options.seed}), "
        f"gunicorn {options.workers} sync workers, {options.clients} clients, {options.duration} s, PostgreSQL, "
        f"{len(paths)} distinct queries"
    )
    load_ok = print_load("every search computed (no cache):", uncached, target)
    if cached is not None:
        repeats = cached["requests"] / len(paths)
        cached_ok = print_load(
            f"with the shared Redis search cache (each query asked about {repeats:.0f} times; first asks miss):",
            cached,
            target,
        )
        load_ok = load_ok or cached_ok
    print(
        f"  raw SQL per search (in-process, sequential): p50 {sql['sql_p50_ms']:.2f} ms, "
        f"p95 {sql['sql_p95_ms']:.2f} ms; whole search function p50 {sql['function_p50_ms']:.2f} ms, "
        f"p95 {sql['function_p95_ms']:.2f} ms"
    )
    print("  relevance (a relevant application in the top 10; exact trigram at rank 1):")
    all_ok = load_ok
    for category in CATEGORIES:
        figures = relevance[category]
        share = figures["rank1"] if category == "exact trigram" else figures["top10"]
        wanted = 1.0 if category == "exact trigram" else 0.95
        ok = share >= wanted
        all_ok &= ok
        label = "rank 1" if category == "exact trigram" else "top 10"
        print(
            f"    {category:15s} {figures['queries']:4d} queries  {label} {share:7.1%}  (target >= {wanted:.0%})  "
            f"{'OK' if ok else 'MISSED'}"
        )
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
