"""`flask sync SOURCE`: pull an API source and merge what it lists (a Kubernetes CronJob runs it).

It exits 0 with a summary when the run succeeded and 1 with the reason on stderr when it failed, so
the CronJob's job history shows failures; a failed run applied nothing and is recorded with its
reason. `--dry-run` fetches and plans, prints what would change, and writes nothing at all.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from portal.extensions import db
from portal.imports.merge import Outcome
from portal.imports.models import ImportRun
from portal.imports.pull import Preview, SyncFailed, describe_refusal, preview, sync
from portal.imports.runs import Actor
from portal.sources.models import Source

# Lines of detail printed for a dry run or a refusal; the rest is counted.
MAX_LINES = 50


@click.command("sync")
@click.argument("source_name", metavar="SOURCE")
@click.option("--dry-run", is_flag=True, help="Fetch and plan only: print what would change, write nothing.")
@with_appcontext
def sync_command(source_name: str, dry_run: bool) -> None:
    """Pull SOURCE (a source of kind api) and merge what its API lists. Exits 1 if the run failed."""
    source = db.session.scalar(select(Source).where(Source.name == source_name))
    if source is None:
        raise click.ClickException(f"No source named {source_name!r}.")
    if source.kind != "api":
        raise click.ClickException(f"Source {source.name} is of kind {source.kind}: only api sources are pulled.")
    actor = Actor.system("sync")
    try:
        if dry_run:
            _print_plan(source.name, preview(db.session, source, actor))
        else:
            _print_run(source.name, sync(db.session, source, actor))
    except SyncFailed as failure:
        for entry in failure.errors[:MAX_LINES]:
            click.echo(f"  {describe_refusal(entry)}", err=True)
        run = f" (run {failure.run.id})" if failure.run else ""
        raise click.ClickException(f"Sync of {source_name} failed{run}: {failure.reason}") from None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _counts(counts: dict[str, Any]) -> str:
    return (
        f"{counts.get('create', 0)} created, {counts.get('update', 0)} updated,"
        f" {counts.get('unchanged', 0)} unchanged, {counts.get('conflict', 0)} in conflict,"
        f" {counts.get('missing', 0)} missing from the API"
    )


def _print_run(name: str, run: ImportRun) -> None:
    notes = run.notes or {}
    click.echo(
        f"Synced {name} (run {run.id}): {_plural(notes.get('records', 0), 'record')}"
        f" from {_plural(notes.get('pages', 0), 'page')}; {_counts(run.counts)};"
        f" {_plural(run.changes_written, 'change')} written."
    )


def _print_plan(name: str, preview: Preview) -> None:
    """What would change, record by record (the first `MAX_LINES`); exits 1 if records would be refused."""
    plan = preview.plan
    lines = [_describe(outcome) for outcome in plan.outcomes if outcome.action not in ("unchanged", "error")]
    for type_plan in plan.types.values():
        lines += [f"missing  {type_plan.object_type.natural_key(key)}" for key in type_plan.missing]
    lines += [f"refused  {describe_refusal(entry)}" for entry in preview.refused]
    for line in lines[:MAX_LINES]:
        click.echo(f"  {line}")
    if len(lines) > MAX_LINES:
        click.echo(f"  ... and {len(lines) - MAX_LINES} more")
    summary = f"Dry run of {name}, nothing written: would give {_counts(plan.counts)}."
    if plan.has_errors:
        refused = _plural(plan.counts["error"], "record")
        raise click.ClickException(f"{summary} {refused} refused: a sync would apply nothing.")
    click.echo(summary)


def _describe(outcome: Outcome) -> str:
    changes = ", ".join(f"{name}: {before!r} -> {after!r}" for name, (before, after) in outcome.changes.items())
    conflicts = f" (conflict on {', '.join(outcome.conflicts)})" if outcome.conflicts else ""
    return f"{outcome.action:<8} {outcome.statement.natural_key}: {changes or 'no visible change'}{conflicts}"
