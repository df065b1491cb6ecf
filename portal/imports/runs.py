"""Running a source's statements through the merge, recorded as an import run.

`execute` is the one path every source takes (workbook, push, pull, portal edit): it opens the run,
plans, writes the diff rows a steward reviews, and applies in the caller's transaction. Who acts is
an `Actor`, so that the audit log names a user or a token the same way whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from portal.core.models import utcnow
from portal.imports.merge import Merge, Plan, Progress, Statement, no_progress
from portal.imports.models import ImportRow, ImportRun
from portal.sources.models import Source

# A run whose heartbeat is older than this belongs to a process that died.
STALE_AFTER = timedelta(minutes=2)
# Diff rows kept per run for review; beyond, actions are only counted (the counts stay exact).
MAX_STORED_ROWS = 200_000


@dataclass(frozen=True)
class Actor:
    """Who starts a run: a signed-in user, an API token (with its owner), or the system (CLI, sync job)."""

    label: str
    user_id: int | None = None
    token_id: int | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label)


class PlanHasErrors(Exception):
    """A run with refused records was asked to apply without `partial`: nothing was written."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        super().__init__(f"{plan.counts['error']} records have errors; nothing was applied")


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
    progress: Progress = no_progress,
) -> Plan:
    """Plan the statements; unless `dry_run`, apply them. Raises `PlanHasErrors` (nothing written) when
    records are refused and `partial` is not set. The run row is updated; the caller commits."""
    source = run.source
    merge = Merge(
        session,
        source,
        run,
        actor=run.actor,
        user_id=run.user_id,
        token_id=run.token_id,
        progress=progress,
    )
    plan = merge.plan(statements, snapshot=snapshot)
    run.counts = plan.counts
    if dry_run:
        store_rows(session, run, plan, everything=True)
        return plan
    if plan.has_errors and not partial:
        raise PlanHasErrors(plan)
    run.changes_written = merge.apply(plan, partial=partial)
    store_rows(session, run, plan, everything=False)
    finish(session, run, "succeeded")
    return plan


def store_rows(session: Session, run: ImportRun, plan: Plan, everything: bool) -> None:
    """Keep the diff of a run: every record that is not unchanged for a dry run; errors and conflicts otherwise."""
    kept = ("create", "update", "conflict", "error") if everything else ("conflict", "error")
    rows = [
        {
            "run_id": run.id,
            "position": outcome.statement.position,
            "sheet": outcome.statement.sheet,
            "row_number": outcome.statement.row_number,
            "object_type": outcome.statement.object_type,
            "natural_key": outcome.statement.natural_key[:600],
            "action": outcome.action,
            "changes": {**outcome.changes, **({"conflicts": outcome.conflicts} if outcome.conflicts else {})},
            "errors": outcome.statement.errors,
        }
        for outcome in plan.outcomes
        if outcome.action in kept and not outcome.statement.derived
    ][:MAX_STORED_ROWS]
    for start in range(0, len(rows), 5000):
        session.execute(insert(ImportRow), rows[start : start + 5000])


def finish(session: Session, run: ImportRun, status: str, error: str | None = None) -> None:
    now = utcnow()
    run.status = status
    run.finished_at = now
    run.error = error
    if status == "succeeded" and run.mode == "apply":
        run.source.last_success_at = now
    run.source.last_run_at = now


def fail_stale_runs(session: Session) -> int:
    """Mark failed the runs whose process died mid-way (no heartbeat for `STALE_AFTER`); returns how many."""
    cutoff = utcnow() - STALE_AFTER
    result = session.execute(
        update(ImportRun)
        .where(ImportRun.status.in_(("queued", "running", "applying")), ImportRun.heartbeat_at < cutoff)
        .values(
            status="failed",
            finished_at=utcnow(),
            error="The server stopped while this import was running; nothing of it was applied. Start it again.",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
