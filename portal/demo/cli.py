"""`flask demo-data`: load a generated referential (XS for `make run`, S and L for benchmarks)."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from portal.applications.models import Application
from portal.demo.generator import SIZES, DemoDataError, generate
from portal.extensions import db, vacuum_analyze


@click.command("demo-data")
@click.option("--size", type=click.Choice(list(SIZES), case_sensitive=False), default="XS", show_default=True)
@click.option("--seed", type=int, default=42, show_default=True, help="The same seed gives the same data.")
@click.option("--replace/--no-replace", default=False, help="Delete the referential already loaded first.")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) if the database already holds applications.")
@click.option("--applications", type=click.IntRange(min=1), default=None, help="Override the size's application count.")
@click.option(
    "--vacuum/--no-vacuum", default=True, help="VACUUM ANALYZE afterwards on PostgreSQL (needs no other open writer)."
)
@with_appcontext
def demo_data_command(
    size: str, seed: int, replace: bool, if_empty: bool, applications: int | None, vacuum: bool
) -> None:
    """Load a generated demo referential and rebuild the search index."""
    session = db.session
    if if_empty and session.scalar(select(Application.id).limit(1)) is not None:
        click.echo("The database already holds applications: demo data not loaded.")
        return
    started = time.perf_counter()
    try:
        counts = generate(session, size, seed, applications=applications, replace=replace)
    except DemoDataError:
        raise click.ClickException(
            "The database already holds applications. Run again with --replace to delete them and reload."
        ) from None
    session.commit()
    if vacuum:
        vacuum_analyze(db.require_engine())
    for table, count in counts.items():
        click.echo(f"{table:<20} {count:>10,}")
    click.echo(f"Loaded size {size.upper()} (seed {seed}) in {time.perf_counter() - started:.1f} s.")
