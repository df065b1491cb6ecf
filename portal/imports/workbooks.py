"""Workbook imports: upload, dry run, apply or cancel, each step recorded on the import run.

A steward's upload is checked at once (a file that is not a safe xlsx never becomes a run), then kept
on the run; the dry run reads it from there, in the background of whichever process picks it up, so
that any replica can show and continue a run, and keeps its plan on the run too. The apply writes
that plan when the referential has not changed since (`plans.referential_version`), otherwise reads
and plans the workbook again. The apply is one transaction: a process that dies during it leaves
nothing applied (`fail_stale_runs` marks the run failed at the next start).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from portal.core.collector import collections_paused
from portal.core.errors import is_database_unavailable
from portal.core.models import utcnow
from portal.extensions import db
from portal.imports.excel import WorkbookReader, WorkbookRejected, check_file
from portal.imports.models import ImportRun
from portal.imports.plans import drop_workbook_and_plan, has_kept_plan, referential_version
from portal.imports.runs import (
    STALE_AFTER,
    Actor,
    PlanHasErrors,
    apply_kept_plan,
    execute_by_type,
    finish,
    lock_source,
    open_run,
)
from portal.sources.models import Source

log = logging.getLogger(__name__)
# Progress and heartbeat are written at most this often (seconds).
PROGRESS_INTERVAL = 0.5
# An import's statements may run for minutes on a large referential (the default is a few seconds).
IMPORT_STATEMENT_TIMEOUT = "15min"
# A step that lost the database records its failure once the database is back: it tries again this often (seconds).
FAILURE_RETRY_INTERVAL = 1.0
DATABASE_LOST = "The database could not be reached during this step; nothing of it was applied. Start it again."


def start_upload(
    session: Session, source: Source, filename: str, data: bytes, actor: Actor, snapshot: bool = False
) -> ImportRun:
    """Check the file and queue its dry run. Raises `WorkbookRejected` (nothing is written) for a bad file."""
    config = current_app.config
    check_file(data, config["IMPORT_MAX_BYTES"], config["IMPORT_MAX_UNZIPPED_BYTES"])
    run = open_run(
        session,
        source,
        "upload",
        actor,
        mode="dry_run",
        filename=filename[:255],
        file_data=data,
        options={"snapshot": snapshot},
    )
    run.status = "queued"
    return run


class ProgressReporter:
    """Writes a run's phase, progress and heartbeat from its own connection, so that other requests
    (the polling page, another replica) see them while the run's transaction is still open (PostgreSQL;
    SQLite shows the phase the run started with until it ends)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.last = 0.0
        self.dialect = db.engine.dialect.name if db.engine is not None else ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        """Report progress from within the run's transaction; on SQLite, nothing until it ends.

        SQLite has one writer at a time: once the run's transaction has read, a write from another connection
        makes the run's own next write fail ("database is locked": what it read is no longer the latest)."""
        now = time.monotonic()
        if self.dialect == "sqlite" or (now - self.last < PROGRESS_INTERVAL and done < total):
            return
        self.last = now
        self.write(phase=phase, progress_done=done, progress_total=total)

    def write(self, **values: Any) -> None:
        try:
            with db.open_session() as session, session.begin():
                if self.dialect == "postgresql":
                    session.execute(text("SET LOCAL lock_timeout = '1s'"))
                session.execute(
                    update(ImportRun).where(ImportRun.id == self.run_id).values(heartbeat_at=utcnow(), **values)
                )
        except Exception:  # progress is a courtesy: never let it fail the import itself
            log.warning("could not record the progress of import run %s", self.run_id, exc_info=True)


def dry_run(session: Session, run: ImportRun, progress: Callable[[str, int, int], None]) -> None:
    """Read the workbook and plan it, a sheet at a time: the run becomes `ready`, with its diff, for a
    steward to review. The plan is kept with the state of the referential it was made from, for the apply."""
    version = referential_version(session, run)
    workbook = WorkbookReader(run.file_data or b"", current_app.config["IMPORT_MAX_ROWS"])
    snapshot = bool(run.options.get("snapshot"))
    execute_by_type(session, run, workbook.statements, dry_run=True, snapshot=snapshot, progress=progress)
    # The run's own row is written last: the progress reporter updates it meanwhile from another connection.
    run.notes = workbook.notes
    run.plan_version = version
    run.status = "ready"
    run.phase = None


def apply(session: Session, run: ImportRun, progress: Callable[[str, int, int], None]) -> None:
    """Apply the workbook of a run whose dry run is ready, in the caller's (single) transaction: the dry
    run's plan as reviewed when nothing changed since, otherwise the workbook read and planned again."""
    partial = bool(run.options.get("partial"))
    lock_source(session, run.source)  # from here on, no run of this source can change what the plan read
    if run.plan_version == referential_version(session, run) and has_kept_plan(session, run):
        progress("writing", 0, 1)
        apply_kept_plan(session, run, partial=partial, progress=progress)
    else:
        workbook = WorkbookReader(run.file_data or b"", current_app.config["IMPORT_MAX_ROWS"])
        snapshot = bool(run.options.get("snapshot"))
        execute_by_type(session, run, workbook.statements, snapshot=snapshot, partial=partial, progress=progress)
    drop_workbook_and_plan(session, run)
    run.phase = None


STEPS = {"dry_run": dry_run, "apply": apply}


def run_step(app: Flask, run_id: int, step: str) -> None:
    """Do one step of a run in its own application context and transaction; record a failure with its reason."""
    with app.app_context():
        session = db.session
        reporter = ProgressReporter(run_id)
        try:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL statement_timeout = '{IMPORT_STATEMENT_TIMEOUT}'"))
            reporter.write(status="running" if step == "dry_run" else "applying", phase="reading")
            run = session.get(ImportRun, run_id)
            if run is None:
                return
            with collections_paused():
                STEPS[step](session, run, reporter)
            session.commit()
        except Exception as error:
            session.rollback()
            record_failure(session, run_id, failure_reason(error, run_id))
        finally:
            db.remove_session()


def failure_reason(error: Exception, run_id: int) -> str:
    """What a run that `error` stopped says to the steward (the transaction rolled back: nothing was applied).
    An unexpected error is logged with its traceback; the steward reads only its kind."""
    if isinstance(error, WorkbookRejected | PlanHasErrors):
        return str(error)
    if is_database_unavailable(error):
        return DATABASE_LOST
    log.exception("import run %s failed", run_id)
    return f"Unexpected error ({type(error).__name__}); nothing was applied."


def record_failure(session: Session, run_id: int, reason: str, counts: dict[str, int] | None = None) -> None:
    """Mark the run failed with `reason` (and the `counts` of what it planned, when given). While the database
    cannot be reached (often what failed the step), try again every `FAILURE_RETRY_INTERVAL` seconds, for up to
    `STALE_AFTER`: past that, `fail_stale_runs` marks the run failed anyway (at the next start, or when the
    Imports page is shown)."""
    deadline = time.monotonic() + STALE_AFTER.total_seconds()
    while True:
        try:
            run = session.get(ImportRun, run_id)
            if run is not None:
                finish(session, run, "failed", reason)
                if counts is not None:
                    run.counts = counts
                drop_workbook_and_plan(session, run)
                session.commit()
            return
        except Exception as error:
            session.rollback()
            if not is_database_unavailable(error) or time.monotonic() > deadline:
                raise
            time.sleep(FAILURE_RETRY_INTERVAL)


def launch(run_id: int, step: str) -> None:
    """Run a step in a background thread of this process (inline when `IMPORTS_INLINE` is set, for tests)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("IMPORTS_INLINE"):
        run_step(app, run_id, step)
        return
    threading.Thread(target=run_step, args=(app, run_id, step), name=f"import-{run_id}-{step}", daemon=True).start()


def fail_interrupted_runs(app: Flask) -> None:
    """At start: the runs a dead process left half-done are marked failed (their transaction left nothing).

    Only runs whose heartbeat stopped count, so a run another replica is working on is left alone. A
    database that is not reachable or not migrated yet (`flask db upgrade` itself starts the app) is
    skipped: the Imports page does the same check each time it is shown.
    """
    from portal.imports.runs import fail_stale_runs

    with app.app_context():
        try:
            failed = fail_stale_runs(db.session, at_start=True)
            db.session.commit()
        except Exception:
            db.session.rollback()
            return
    if failed:
        log.warning("%s import runs were interrupted by a stopped process and are marked failed", failed)
