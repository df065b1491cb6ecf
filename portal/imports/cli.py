"""`flask import WORKBOOK`: check a workbook and show what it would change; `--apply` commits it.

The same reader and merge as the Imports page, in the terminal with a progress bar: for scripted
loads and for workbooks too large to upload comfortably. A dry run writes nothing at all.

An apply is an import run like an upload's, listed on the Imports page whatever becomes of it: the
run is recorded before anything is written, keeps its heartbeat while it works, and ends succeeded,
or failed with the reason and nothing applied. A process that dies mid-way leaves a run whose
heartbeat stopped, which `runs.fail_stale_runs` marks failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text

from portal.core.collector import collections_paused
from portal.extensions import db
from portal.imports.excel import WorkbookReader, WorkbookRejected, check_file
from portal.imports.merge import Outcome, Progress, Statement, no_progress
from portal.imports.models import ImportRun
from portal.imports.runs import Actor, PlanHasErrors, execute_by_type, open_run
from portal.imports.workbooks import ProgressReporter, failure_reason, record_failure
from portal.sources.models import Source
from portal.sources.queries import find_source

MAX_LINES = 30
INTERRUPTED = "Interrupted from the terminal (Ctrl-C); nothing was applied."


class Bar:
    """One click progress bar per phase (checking, writing), fed by the merge's progress reports."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.bar: Any = None
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self.close()
            self.phase, self.done = phase, 0
            label = phase.capitalize().ljust(9)
            self.bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("import")
@click.argument("workbook", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source_name", default="workbook", show_default=True, help="The excel source it comes from.")
@click.option("--apply", "apply_", is_flag=True, help="Commit the changes (without it: a dry run that writes nothing).")
@click.option("--partial", is_flag=True, help="With --apply: apply the valid rows even if some have errors.")
@click.option("--snapshot", is_flag=True, help="A full snapshot: mark missing what the source no longer lists.")
@with_appcontext
def import_command(workbook: Path, source_name: str, apply_: bool, partial: bool, snapshot: bool) -> None:
    """Import WORKBOOK (.xlsx in the Referentiel template format). Exits 1 if nothing could be applied."""
    with collections_paused():
        _import_workbook(workbook, source_name, apply_, partial, snapshot)


def _import_workbook(workbook: Path, source_name: str, apply_: bool, partial: bool, snapshot: bool) -> None:
    source = find_source(db.session, source_name)
    if source is None or source.kind != "excel":
        raise click.ClickException(f"No excel source named {source_name!r} (see the Sources page).")
    data = workbook.read_bytes()
    config = current_app.config
    try:
        check_file(data, config["IMPORT_MAX_BYTES"], config["IMPORT_MAX_UNZIPPED_BYTES"])
        reader = WorkbookReader(data, config["IMPORT_MAX_ROWS"])
    except WorkbookRejected as error:
        raise click.ClickException(f"{workbook.name}: {error}") from None
    reading = Reading(reader, snapshot, partial)
    if apply_:
        _apply(source, workbook.name, reading)
    else:
        _dry_run(source, workbook.name, reading)


class Reading:
    """What one command reads (the workbook, one sheet at a time) and shows of it: progress, rows in error."""

    def __init__(self, reader: WorkbookReader, snapshot: bool, partial: bool) -> None:
        self.reader = reader
        self.snapshot = snapshot
        self.partial = partial
        self.bar = Bar()
        self.errors = ErrorLines()

    def execute(self, run: ImportRun, dry_run: bool, heartbeat: Progress = no_progress) -> None:
        """Plan the workbook, and unless `dry_run` apply it, in the session's transaction (uncommitted)."""
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("SET LOCAL statement_timeout = 0"))

        def progress(phase: str, done: int, total: int) -> None:
            self.bar(phase, done, total)
            heartbeat(phase, done, total)

        try:
            # One sheet at a time, as the Imports page does: a large workbook never sits whole in memory.
            execute_by_type(
                db.session,
                run,
                self.reader.statements,
                dry_run=dry_run,
                snapshot=self.snapshot,
                partial=self.partial,
                keep=False,
                observe=self.errors.add,
                progress=progress,
            )
        finally:
            self.bar.close()


def _dry_run(source: Source, filename: str, reading: Reading) -> None:
    run = open_run(db.session, source, "upload", Actor.system("cli"), mode="dry_run", filename=filename)
    try:
        reading.execute(run, dry_run=True)
        reading.errors.report(run.counts)
    except WorkbookRejected as error:  # a sheet found wrong when its turn came (a key column missing...)
        raise click.ClickException(f"{filename}: {error}") from None
    finally:
        db.session.rollback()
    click.echo("Dry run: nothing was written. Add --apply to commit.")


def _apply(source: Source, filename: str, reading: Reading) -> None:
    run = open_run(
        db.session,
        source,
        "upload",
        Actor.system("cli"),
        filename=filename,
        options={"snapshot": reading.snapshot, "partial": reading.partial},
    )
    run.status, run.phase = "applying", "reading"
    db.session.commit()  # listed from now on, before anything is written
    run_id = run.id
    try:
        reading.execute(run, dry_run=False, heartbeat=ProgressReporter(run_id))
        run.phase = None
        db.session.commit()
    except PlanHasErrors as refused:
        db.session.rollback()
        reading.errors.report(refused.plan.counts)
        _record_failure(run_id, str(refused), refused.plan.counts)
        raise click.ClickException(
            f"Nothing was applied (import run {run_id}): fix the errors, or add --partial to apply the valid rows."
        ) from None
    except KeyboardInterrupt:
        db.session.rollback()
        _record_failure(run_id, INTERRUPTED)
        raise
    except Exception as error:
        db.session.rollback()
        reason = failure_reason(error, run_id)
        _record_failure(run_id, reason)
        described = f"{filename}: {reason}" if isinstance(error, WorkbookRejected) else reason
        raise click.ClickException(f"Import run {run_id} failed. {described}") from None
    reading.errors.report(run.counts)
    click.echo(f"Applied as import run {run_id}: {run.changes_written:,} values changed.")


def _record_failure(run_id: int, reason: str, counts: dict[str, int] | None = None) -> None:
    """The run marked failed, once the database answers again (`workbooks.record_failure`); when it stays out of
    reach, the run's stopped heartbeat gets it marked failed later, which the message says."""
    try:
        record_failure(db.session, run_id, reason, counts)
    except Exception:
        db.session.rollback()
        raise click.ClickException(
            f"Nothing was applied, and import run {run_id} could not be marked failed: the database cannot be "
            "reached. The portal marks it failed once it can."
        ) from None


class ErrorLines:
    """The rows in error, printed after the counts: the first `MAX_LINES` of them, then how many more."""

    def __init__(self) -> None:
        self.shown: list[Statement] = []

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.action == "error" and not outcome.statement.derived and len(self.shown) < MAX_LINES:
                self.shown.append(outcome.statement)

    def report(self, counts: dict[str, int]) -> None:
        click.echo(", ".join(f"{counts[action]:,} {action}" for action in counts))
        for statement in self.shown:
            for error in statement.errors:
                click.echo(
                    f"  {statement.location}, {error['column']} {error['value'] or ''!r}: {error['reason']}", err=True
                )
        if counts.get("error", 0) > len(self.shown):
            click.echo(f"  ... and {counts['error'] - len(self.shown):,} more rows with errors", err=True)
