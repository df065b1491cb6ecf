"""Import benchmark: a workbook of the asked size imported into an empty PostgreSQL, re-imported, and pushed.

1. builds the workbook (Entities, People, Applications, Stakeholders, Environments, Components sheets)
   from the generated dataset the search benchmark also uses, once (cached under bench/.cache/);
2. reads it with python-calamine (what the portal uses) and with openpyxl's read-only mode;
3. in a fresh process on an empty database: dry run then apply, as the Imports page does (the dry run's
   diff is stored, the apply writes the plan the dry run kept), reporting each phase's time and the peak memory;
4. the same workbook again, unchanged: time, and the values it changed (must be zero);
5. the same first import without the Components sheet: the workbook DESIGN.md's target names (applications,
   stakeholders, environments, with the entities and people they refer to), where issue 5 adds components;
6. 20,000 application records pushed to `POST /api/v1/sources/<source>/records` in batches of 1,000,
   through gunicorn on loopback with an ingest token.

Targets (DESIGN.md, issue 5): S dry run + apply <= 20 s with peak memory <= 400 MB, components included;
unchanged re-import <= 10 s with zero changes; the push <= 20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search_bench import (  # noqa: E402
    ADMIN_URL,
    _flask,
    _portal_env,
    account_token,
    ensure_dataset,
    log,
    start_server,
)

CACHE = ROOT / "bench" / ".cache"
TARGETS = {"import_s": 20.0, "memory_mb": 400, "reimport_s": 10.0, "push_s": 20.0}
PUSH_RECORDS = 20_000
PUSH_BATCH = 1_000

# Per sheet, the object type whose headers it carries and the query that gives its rows in that order.
SHEETS = {
    "Entities": (
        "entity",
        "SELECT e.code, e.name, e.kind, p.code FROM entity e LEFT JOIN entity p ON p.id = e.parent_id ORDER BY e.id",
    ),
    "People": (
        "person",
        "SELECT p.login, p.display_name, p.email, e.code FROM person p LEFT JOIN entity e ON e.id = p.entity_id "
        "ORDER BY p.id",
    ),
    "Applications": (
        "application",
        "SELECT a.trigram, a.name, a.description, a.status, a.criticality, e.code, a.go_live_date, "
        "a.end_of_support_date, a.decommission_date, a.tags, a.documentation_url "
        "FROM application a LEFT JOIN entity e ON e.id = a.entity_id ORDER BY a.id",
    ),
    "Stakeholders": (
        "stakeholder",
        "SELECT a.trigram, p.login, s.role, NULL, NULL FROM stakeholder s "
        "JOIN application a ON a.id = s.application_id JOIN person p ON p.id = s.person_id ORDER BY s.id",
    ),
    "Environments": (
        "environment",
        "SELECT a.trigram, v.kind, v.name, v.url, v.status FROM environment v "
        "JOIN application a ON a.id = v.application_id ORDER BY v.id",
    ),
    "Components": (
        "component",
        "SELECT a.trigram, v.name, c.kind, c.name, c.attributes FROM component c "
        "JOIN environment v ON v.id = c.environment_id JOIN application a ON a.id = v.application_id ORDER BY c.id",
    ),
}


# The sheets of the workbook DESIGN.md's target names: no components.
WITHOUT_COMPONENTS = tuple(title for title in SHEETS if title != "Components")


def build_workbook(dataset_url: str, path: Path, titles: tuple[str, ...]) -> dict[str, int]:
    """Write these sheets of the dataset as a workbook in the import format (openpyxl write-only); returns rows
    per sheet."""
    from openpyxl import Workbook

    from portal.imports.schema import OBJECT_TYPES, format_details

    workbook = Workbook(write_only=True)
    counts: dict[str, int] = {}
    engine = create_engine(dataset_url)
    with engine.connect() as connection:
        for title in titles:
            object_type, query = SHEETS[title]
            sheet = workbook.create_sheet(title)
            sheet.append(OBJECT_TYPES[object_type].headers)
            rows = 0
            for row in connection.execute(text(query)):
                values = list(row)
                if title == "Components":
                    values[4] = format_details(values[4])
                sheet.append(values)
                rows += 1
            counts[title] = rows
    engine.dispose()
    workbook.save(path)
    return counts


def ensure_workbook(size: str, seed: int, titles: tuple[str, ...] = tuple(SHEETS)) -> Path:
    CACHE.mkdir(exist_ok=True)
    variant = "" if titles == tuple(SHEETS) else "-without-components"
    path = CACHE / f"import-{size.lower()}-{seed}{variant}.xlsx"
    if not path.exists():
        dataset = ensure_dataset(size, seed)
        log(f"writing the {size} workbook to {path}")
        started = time.perf_counter()
        counts = build_workbook(dataset, path, titles)
        log(f"workbook written in {time.perf_counter() - started:.1f} s: {counts}")
    return path


def compare_readers(path: Path) -> dict[str, float]:
    """Seconds to read every cell of every sheet: calamine (through the portal's reader) and openpyxl read-only."""
    from openpyxl import load_workbook

    from portal.imports.excel import read_workbook

    data = path.read_bytes()
    started = time.perf_counter()
    parsed = read_workbook(data, max_rows=10_000_000)
    calamine = time.perf_counter() - started
    started = time.perf_counter()
    workbook = load_workbook(path, read_only=True, data_only=True)
    cells = 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells += len(row)
    workbook.close()
    openpyxl = time.perf_counter() - started
    return {"calamine_s": calamine, "openpyxl_s": openpyxl, "rows": len(parsed.statements)}


# The import itself runs in a child process, so that its peak memory is its own.
IMPORT_SCRIPT = r"""
import json, os, resource, sys, time
from sqlalchemy import text
from portal import create_app
from portal.extensions import db
from portal.imports.workbooks import start_upload, run_step
from portal.imports.runs import Actor
from portal.imports.models import ImportRun
from portal.sources.queries import find_source

def cpu():
    # CPU seconds so far: this process, and the database's server processes (read from /proc: the
    # benchmark's PostgreSQL runs on this machine; its pooled connections stay open between the steps).
    with app.app_context():
        pids = db.session.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
        pids = pids.scalars().all()
        db.session.rollback()
    server = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        server += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return time.process_time(), server

app = create_app()
data = open(sys.argv[1], "rb").read()
before = cpu()
with app.app_context():
    source = find_source(db.session, "workbook")
    started = time.perf_counter()
    run = start_upload(db.session, source, "bench.xlsx", data, Actor.system("bench"))
    db.session.commit()
    run_id = run.id
run_step(app, run_id, "dry_run")
dry_run = time.perf_counter() - started
after_dry_run = cpu()
with app.app_context():
    run = db.session.get(ImportRun, run_id)
    counts, status = run.counts, run.status
    run.status = "queued"
    db.session.commit()
started = time.perf_counter()
run_step(app, run_id, "apply")
apply = time.perf_counter() - started
after_apply = cpu()
with app.app_context():
    run = db.session.get(ImportRun, run_id)
    result = {"dry_run_s": dry_run, "apply_s": apply, "status": run.status, "error": run.error,
              "counts": counts, "changes_written": run.changes_written,
              "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "cpu": {"python": [after_dry_run[0] - before[0], after_apply[0] - after_dry_run[0]],
                      "postgres": [after_dry_run[1] - before[1], after_apply[1] - after_dry_run[1]]}}
print(json.dumps(result))
"""


def cpu_split(result: dict) -> str:
    """Where an import's time went: a step whose CPU seconds on one side come near its wall time is bound
    by that side (two cores: Python and PostgreSQL can each use one at the same time)."""
    python, postgres = result["cpu"]["python"], result["cpu"]["postgres"]
    return (
        f"CPU seconds, dry run / apply: Python {python[0]:.1f} / {python[1]:.1f}, "
        f"PostgreSQL {postgres[0]:.1f} / {postgres[1]:.1f}"
    )


def import_once(url: str, path: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, str(path)],
        env=_portal_env(url) | {"PORTAL_LOG_LEVEL": "WARNING"},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise SystemExit(f"import failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def empty_database(name: str) -> str:
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    drop_database(name)
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    subprocess.run([_flask(), "--app", "portal", "db", "upgrade"], env=_portal_env(url), check=True, cwd=ROOT)
    return url


def drop_database(name: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def ingest_token(url: str) -> str:
    """An ingest token of a steward for the push source `nifi` (created here)."""
    subprocess.run(
        [_flask(), "--app", "portal", "sources", "create", "nifi", "--kind", "push"],
        env=_portal_env(url),
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return account_token(url, "bench-nifi", "steward", "ingest")


def measure_push(url: str, dataset_url: str, port: int) -> dict:
    """20,000 application records in batches of 1,000, one after the other, as a NiFi flow sends them."""
    engine = create_engine(dataset_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT trigram, name, status, criticality FROM application ORDER BY id LIMIT :n"), {"n": PUSH_RECORDS}
        ).all()
    engine.dispose()
    records = [
        {"type": "application", "trigram": r[0], "name": r[1], "status": r[2], "criticality": r[3]} for r in rows
    ]
    token = ingest_token(url)
    server = start_server(url, port, workers=2)
    try:
        started = time.perf_counter()
        counts: dict[str, int] = {}
        for start in range(0, len(records), PUSH_BATCH):
            body = json.dumps(records[start : start + PUSH_BATCH]).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/sources/nifi/records",
                data=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"bench-{start}",
                },
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                for action, count in json.load(response)["counts"].items():
                    counts[action] = counts.get(action, 0) + count
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"push_s": elapsed, "records": len(records), "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="S", choices=("XS", "S", "L"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--skip-push", action="store_true")
    options = parser.parse_args()

    path = ensure_workbook(options.size, options.seed)
    dataset = ensure_dataset(options.size, options.seed)
    readers = compare_readers(path)
    name = f"referentiel_bench_import_{os.getpid()}"
    url = empty_database(name)
    try:
        log("first import (dry run, then apply) into an empty database")
        first = import_once(url, path)
        log("second import of the same workbook")
        second = import_once(url, path)
    finally:
        drop_database(name)
    lighter = ensure_workbook(options.size, options.seed, WITHOUT_COMPONENTS)
    url = empty_database(name)
    try:
        log("first import of the workbook without components into an empty database")
        without_components = import_once(url, lighter)
    finally:
        drop_database(name)
    push = None
    if not options.skip_push:
        # Into an empty database: every record creates its application (the costlier case).
        push_url = empty_database(f"{name}_push")
        try:
            push = measure_push(push_url, dataset, options.port)
        finally:
            drop_database(f"{name}_push")

    total = first["dry_run_s"] + first["apply_s"]
    again = second["dry_run_s"] + second["apply_s"]
    print(
        f"Import benchmark, size {options.size} ({path.stat().st_size / 1e6:.1f} MB workbook, {readers['rows']:,} rows)"
    )
    print(f"  reading: python-calamine {readers['calamine_s']:.2f} s, openpyxl read-only {readers['openpyxl_s']:.2f} s")
    print(
        f"  first import: dry run {first['dry_run_s']:.1f} s + apply {first['apply_s']:.1f} s = {total:.1f} s "
        f"(target {TARGETS['import_s']:.0f} s), peak memory {first['peak_mb']:.0f} MB "
        f"(target {TARGETS['memory_mb']} MB), status {first['status']}, {first['changes_written']:,} values written"
    )
    print(f"    counts: {first['counts']}")
    print(f"    {cpu_split(first)}")
    print(
        f"  unchanged re-import: dry run {second['dry_run_s']:.1f} s + apply {second['apply_s']:.1f} s = {again:.1f} s "
        f"(target {TARGETS['reimport_s']:.0f} s), {second['changes_written']} values written (target 0), "
        f"peak memory {second['peak_mb']:.0f} MB"
    )
    print(f"    {cpu_split(second)}")
    lighter_total = without_components["dry_run_s"] + without_components["apply_s"]
    print(
        f"  first import without the Components sheet ({sum(without_components['counts'].values()):,} rows, "
        f"DESIGN.md's workbook): dry run {without_components['dry_run_s']:.1f} s + apply "
        f"{without_components['apply_s']:.1f} s = {lighter_total:.1f} s, peak memory "
        f"{without_components['peak_mb']:.0f} MB, status {without_components['status']}"
    )
    print(f"    {cpu_split(without_components)}")
    if push:
        print(
            f"  push: {push['records']:,} records in batches of {PUSH_BATCH:,}: {push['push_s']:.1f} s "
            f"(target {TARGETS['push_s']:.0f} s) into an empty database: "
            f"{ {action: count for action, count in push['counts'].items() if count} }"
        )
    if first["error"] or second["error"] or without_components["error"]:
        print(f"  errors: {first['error']} / {second['error']} / {without_components['error']}")


if __name__ == "__main__":
    main()
