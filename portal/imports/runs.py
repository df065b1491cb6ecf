"""Running a source's statements through the merge, recorded as an import run.

`execute` is the one path every source takes (workbook, push, pull, portal edit): it opens the run,
plans, writes the diff rows a steward reviews, and applies in the caller's transaction. Who acts is
an `Actor`, so that the audit log names a user or a token the same way whatever the source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, false, select, text, update
from sqlalchemy.orm import Session

from portal.core.bulk import insert_rows, writing_behind
from portal.core.models import utcnow
from portal.imports.merge import Merge, Outcome, Plan, Progress, Statement, StatementsOf, TypePlan, no_progress
from portal.imports.models import ImportRow, ImportRun
from portal.imports.plans import drop_kept_plans, keep_plan, kept_plan, read_type_plans
from portal.sources.models import Source

# A run whose heartbeat is older than this belongs to a process that died.
STALE_AFTER = timedelta(minutes=2)
SNAPSHOT_IDLE = timedelta(days=1)
# A dry run not applied within this long is cancelled: its workbook and plan weigh tens of megabytes.
READY_KEPT_FOR = timedelta(days=7)
# Why `fail_stale_runs` ended a run.
DIED = "The server stopped while this import was running; nothing of it was applied. Start it again."
ABANDONED = "No batch came for this snapshot for a day: it was abandoned, and nothing was marked missing."
FORGOTTEN = f"Not applied within {READY_KEPT_FOR.days} days: cancelled. Upload the workbook again."
# Diff rows kept per run for review; beyond, actions are only counted (the counts stay exact).
MAX_STORED_ROWS = 50_000


@dataclass(frozen=True)
class Actor:
    """Who starts a run: a signed-in user, an API token (with its owner), or the system (CLI, sync job)."""

    label: str
    user_id: int | None = None
    token_id: int | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label)

    @classmethod
    def of_request(cls) -> Actor:
        """Whoever makes the current request: a token (named by its public prefix and owner) or a user."""
        from flask import g

        from portal.auth.guard import caller

        user = caller()
        grant = g.get("token_grant")
        if grant is not None:
            owner = f" of {user.login}" if user else ""
            return cls(f"token {grant.prefix}{owner}", grant.user_id, grant.token_id)
        return cls(user.login, user.id) if user else cls.system()


class SourceBusy(Exception):
    """Another run of the same source is being applied; this one was not started (nothing written)."""


# The first key of the advisory locks that serialise the runs of one source (the second is its id).
SOURCE_LOCK_SPACE = 5_127


def lock_source(session: Session, source: Source, wait: bool = True) -> None:
    """Take `source`'s lock until the transaction ends: two runs of one source never interleave their
    writes (each plans from what the other has not written yet). SQLite needs none: it has one writer."""
    if session.get_bind().dialect.name != "postgresql":
        return
    parameters = {"space": SOURCE_LOCK_SPACE, "source": source.id}
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:space, :source)"), parameters)
    elif not session.scalar(text("SELECT pg_try_advisory_xact_lock(:space, :source)"), parameters):
        raise SourceBusy(f"Another run of source {source.name} is being applied; try again in a moment.")


class PlanHasErrors(Exception):
    """A run with refused records was asked to apply without `partial`: nothing was written."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        refused = plan.counts["error"]
        records = "1 record has" if refused == 1 else f"{refused:,} records have"
        super().__init__(f"{records} errors; nothing was applied")


def open_run(
    session: Session, source: Source, kind: str, actor: Actor, mode: str = "apply", **values: Any
) -> ImportRun:
    """A new run of `source`, started now by `actor`; `values` sets other columns (filename, options...)."""
    now = utcnow()
    run = ImportRun(
        source=source,
        kind=kind,
        mode=mode,
        status="running",
        actor=actor.label,
        user_id=actor.user_id,
        token_id=actor.token_id,
        created_at=now,
        started_at=now,
        heartbeat_at=now,
        **values,
    )
    session.add(run)
    session.flush()
    return run


def execute(
    session: Session,
    run: ImportRun,
    statements: list[Statement],
    *,
    dry_run: bool = False,
    snapshot: bool = False,
    partial: bool = False,
    keep_rows: bool = True,
    wait: bool = True,
    progress: Progress = no_progress,
) -> Plan:
    """Plan the statements; unless `dry_run`, apply them. Raises `PlanHasErrors` (nothing written) when
    records are refused and `partial` is not set. The run row is updated last (a progress reporter may
    update it from another connection meanwhile); the caller commits. `keep_rows=False` keeps no diff
    rows, for the apply of a run whose dry run already kept them. An apply first takes its source's lock:
    it waits for another run of the same source to finish, or with `wait=False` raises `SourceBusy`."""
    if not dry_run:
        lock_source(session, run.source, wait=wait)
    merge = _merge_for(session, run, progress)
    plan = merge.plan(statements, snapshot=snapshot)
    if dry_run:
        store_rows(session, run, plan, everything=True)
        run.counts = plan.counts
        return plan
    _apply(session, run, merge, plan, partial, keep_rows)
    return plan


def execute_by_type(
    session: Session,
    run: ImportRun,
    statements_of: StatementsOf,
    *,
    dry_run: bool = False,
    snapshot: bool = False,
    partial: bool = False,
    keep: bool = True,
    observe: Callable[[list[Outcome]], None] | None = None,
    progress: Progress = no_progress,
) -> None:
    """`execute` for a workbook, one object type at a time (`Merge.plan_by_type`): each type is planned,
    then applied, or for a dry run kept, before the next sheet is read. Only one sheet's statements and
    plan are held at a time, whatever the size of the workbook. `observe` sees each type's outcomes.

    A dry run keeps its diff rows and its plan (`plans.keep_plan`) for the Imports page, unless `keep`
    is off (the command line prints its report instead). An apply that meets refused records without
    `partial` stops writing there, plans the remaining types only to count what they would refuse,
    and raises `PlanHasErrors` (the caller rolls back what earlier types wrote).
    """
    if not dry_run:
        lock_source(session, run.source)
    merge = _merge_for(session, run, progress)
    merge.to_write = records_to_write(run.counts or {})
    diff = RunDiff(session, run, everything=dry_run, keep=dry_run and keep)
    writer = keep_plan(session, run) if dry_run and keep else None
    refused = False  # records in error met so far, which the run may not skip
    # The writes (an apply's, a dry run's diff rows) go to the server while the next sheet is planned.
    with writing_behind(session):
        for part in merge.plan_by_type(statements_of, snapshot):
            diff.add(part.outcomes, part.type_plan)
            if observe is not None:
                observe(part.outcomes)
            refused = bool(diff.counts["error"]) and not partial
            if writer is not None:
                writer.add(part.type_plan)
            elif not dry_run and not refused:
                merge.apply_type(part.type_plan)
            del part  # before the next type is planned: a part holds a whole sheet's statements
        diff.finish()
        if writer is not None:
            writer.finish()
        changes_written = 0 if dry_run or refused else merge.finish_apply()
    run.counts = diff.counts
    if dry_run:
        return
    if refused:
        raise PlanHasErrors(Plan(run.source, [], {}, snapshot, known_counts=diff.counts))
    _record_apply(session, run, changes_written)


def apply_kept_plan(
    session: Session, run: ImportRun, *, partial: bool = False, progress: Progress = no_progress
) -> None:
    """Write the plan the run's dry run kept (`plans.keep_plan`), one type at a time, as `execute` writes
    the one it makes. The caller holds the source's lock since before it checked that the plan still holds."""
    counts = run.counts or {}
    if counts.get("error") and not partial:
        raise PlanHasErrors(Plan(run.source, [], {}, False, known_counts=counts))
    merge = _merge_for(session, run, progress)
    merge.to_write = records_to_write(counts)
    with writing_behind(session):
        for type_plan in read_type_plans(kept_plan(session, run), merge.sources):
            merge.load_references(type_plan)
            merge.apply_type(type_plan)
            del type_plan  # before the next type's plan is read
        changes_written = merge.finish_apply()
    _record_apply(session, run, changes_written)


def records_to_write(counts: dict[str, int]) -> int:
    """The records an apply writes or confirms, from a dry run's counts (what its progress counts)."""
    return sum(counts.get(action, 0) for action in ("create", "update", "unchanged", "conflict"))


def _merge_for(session: Session, run: ImportRun, progress: Progress) -> Merge:
    return Merge(
        session, run.source, run, actor=run.actor, user_id=run.user_id, token_id=run.token_id, progress=progress
    )


def _apply(session: Session, run: ImportRun, merge: Merge, plan: Plan, partial: bool, keep_rows: bool) -> None:
    if plan.has_errors and not partial:
        raise PlanHasErrors(plan)
    changes_written = merge.apply(plan, partial=partial)
    if keep_rows:
        store_rows(session, run, plan, everything=False)
    run.counts = plan.counts
    _record_apply(session, run, changes_written)


def _record_apply(session: Session, run: ImportRun, changes_written: int) -> None:
    run.changes_written = changes_written
    run.mode = "apply"
    finish(session, run, "succeeded")


class RunDiff:
    """The diff of a run, gathered as it is planned: exact counts, and the rows a steward reviews.

    For a dry run (`everything`) the rows are every record that is not unchanged; otherwise errors
    and conflicts. At most `MAX_STORED_ROWS` are kept, the most important first (errors, conflicts,
    updates, then creates): a first import of a whole referential creates hundreds of thousands of
    records, which nobody reads one by one. Rows are written as parts come (none with `keep=False`),
    and `finish` drops those the cap leaves out.
    """

    def __init__(self, session: Session, run: ImportRun, everything: bool, keep: bool = True) -> None:
        self.session = session
        self.run = run
        self.kept = ("error", "conflict", "update", "create") if everything else ("error", "conflict")
        self.keep = keep
        self.counts = {action: 0 for action in ("create", "update", "unchanged", "conflict", "error", "missing")}
        self.stored = dict.fromkeys(self.kept, 0)

    def add(self, outcomes: list[Outcome], type_plan: TypePlan | None = None) -> None:
        for outcome in outcomes:
            if not outcome.statement.derived:
                self.counts[outcome.action] += 1
        if type_plan is not None:
            self.counts["missing"] += len(type_plan.missing)
        if not self.keep:
            return
        rows = []
        for outcome in outcomes:
            action = outcome.action
            if action not in self.stored or outcome.statement.derived or not self._has_room(action):
                continue
            self.stored[action] += 1
            rows.append(self._row(outcome))
        insert_rows(self.session, ImportRow, rows)

    def _has_room(self, action: str) -> bool:
        """Whether a row of `action` could be among the most important `MAX_STORED_ROWS` kept in the end."""
        before = sum(self.stored[other] for other in self.kept[: self.kept.index(action)])
        return before + self.stored[action] < MAX_STORED_ROWS

    def _row(self, outcome: Outcome) -> dict[str, Any]:
        statement = outcome.statement
        return {
            "run_id": self.run.id,
            "position": statement.position,
            "sheet": statement.sheet,
            "row_number": statement.row_number,
            "object_type": statement.object_type,
            "natural_key": statement.natural_key[:600],
            "action": outcome.action,
            "changes": {**outcome.changes, **({"conflicts": outcome.conflicts} if outcome.conflicts else {})},
            "errors": statement.errors,
        }

    def finish(self) -> None:
        """Drop the rows a more important one pushed out (those written before it came), latest rows first."""
        room = MAX_STORED_ROWS
        for action in self.kept:
            surplus = self.stored[action] - room
            room = max(room - self.stored[action], 0)
            if surplus > 0:
                latest = (
                    select(ImportRow.id)
                    .where(ImportRow.run_id == self.run.id, ImportRow.action == action)
                    .order_by(ImportRow.position.desc())
                    .limit(surplus)
                )
                self.session.execute(delete(ImportRow).where(ImportRow.id.in_(latest.scalar_subquery())))
                self.stored[action] -= surplus


def store_rows(session: Session, run: ImportRun, plan: Plan, everything: bool) -> None:
    """Keep the diff rows of a plan made at once (see `RunDiff`)."""
    diff = RunDiff(session, run, everything)
    diff.add(plan.outcomes)
    diff.finish()


def finish(session: Session, run: ImportRun, status: str, error: str | None = None) -> None:
    now = utcnow()
    run.status = status
    run.finished_at = now
    run.error = error
    if run.kind == "recompute":  # the source said nothing: its freshness stays what it was
        return
    if status == "succeeded" and run.mode == "apply":
        run.source.last_success_at = now
    run.source.last_run_at = now


def fail_stale_runs(session: Session, at_start: bool = False) -> int:
    """End the runs nobody will finish; returns how many. Those whose process died mid-way (no heartbeat
    for `STALE_AFTER`) and the snapshots given up by their pusher fail; the dry runs left unapplied for
    `READY_KEPT_FOR` are cancelled. Each lets go of its workbook and kept plan.

    On SQLite a run writes no heartbeat while it works (`workbooks.ProgressReporter`), so a long one would
    look dead: runs at work are judged there only when a process starts (`at_start`)."""
    now = utcnow()
    working: ColumnElement[bool] = false()
    if at_start or session.get_bind().dialect.name != "sqlite":
        working = ImportRun.status.in_(("queued", "running", "applying")) & (ImportRun.heartbeat_at < now - STALE_AFTER)
    # A snapshot spanning several batches that got no batch for a day was given up by its pusher.
    abandoned = (ImportRun.status == "open") & (ImportRun.heartbeat_at < now - SNAPSHOT_IDLE)
    forgotten = (ImportRun.status == "ready") & (ImportRun.created_at < now - READY_KEPT_FOR)
    endings = ((working, "failed", DIED), (abandoned, "failed", ABANDONED), (forgotten, "cancelled", FORGOTTEN))
    if session.scalar(select(ImportRun.id).where(working | abandoned | forgotten).limit(1)) is None:
        return 0  # the usual case: no write (on SQLite, a write would wait for a running import)
    ended: list[int] = []
    for stale, status, reason in endings:
        ended += session.scalars(
            update(ImportRun)
            .where(stale)
            .values(status=status, finished_at=now, error=reason, file_data=None)
            .returning(ImportRun.id)
            .execution_options(synchronize_session=False)
        ).all()
    drop_kept_plans(session, ended)
    return len(ended)


def recompute_source(session: Session, source: Source, actor: Actor) -> ImportRun:
    """After `source`'s precedence changed, make the visible values follow it (audited as a run)."""
    session.flush()
    run = open_run(session, source, "recompute", actor)
    merge = Merge(session, source, run, actor=actor.label, user_id=actor.user_id, token_id=actor.token_id)
    plan = merge.recompute()
    run.changes_written = merge.apply(plan, statements_made=False)
    run.counts = plan.counts
    finish(session, run, "succeeded")
    return run
