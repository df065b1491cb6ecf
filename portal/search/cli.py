"""`flask search rebuild`: recompute the search index from the referential."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext

from portal.extensions import db, vacuum_analyze
from portal.search.index import rebuild


@click.group("search")
def search_group() -> None:
    """Search index maintenance."""


@search_group.command("rebuild")
@click.option(
    "--vacuum/--no-vacuum", default=True, help="VACUUM ANALYZE afterwards on PostgreSQL (needs no other open writer)."
)
@with_appcontext
def rebuild_command(vacuum: bool) -> None:
    """Recompute every search document and the typo vocabulary."""
    started = time.perf_counter()
    count = rebuild(db.session)
    db.session.commit()
    if vacuum:
        vacuum_analyze(db.require_engine())
    click.echo(f"Indexed {count} applications in {time.perf_counter() - started:.1f} s.")
