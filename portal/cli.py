"""`flask db ...`: database commands (migrations run as their own step, never at application start)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal.extensions import db
from portal.migrate import downgrade, upgrade


@click.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def upgrade_command(revision: str) -> None:
    """Migrate the database to REVISION (the latest by default)."""
    upgrade(db.require_engine(), revision)
    click.echo(f"Database at {revision}.")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def downgrade_command(revision: str) -> None:
    """Migrate the database back to REVISION ("base" empties it)."""
    downgrade(db.require_engine(), revision)
    click.echo(f"Database at {revision}.")
