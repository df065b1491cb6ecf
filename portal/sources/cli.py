"""`flask sources list|create|set`: declare and tune sources from a terminal (or a deployment script)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal.extensions import db
from portal.imports.runs import Actor, recompute_source
from portal.sources.forms import parse_configuration, parse_field_precedence, parse_precedence
from portal.sources.models import SOURCE_KINDS, Source
from portal.sources.queries import check_source_name, find_source, get_source_summaries


@click.group("sources")
def sources_group() -> None:
    """Sources of data and their precedence."""


@sources_group.command("list")
@with_appcontext
def list_command() -> None:
    for summary in get_source_summaries(db.session):
        source = summary.source
        overrides = ", ".join(f"{field}={value}" for field, value in sorted(source.field_precedence.items()))
        last = source.last_success_at.strftime("%Y-%m-%d %H:%M") if source.last_success_at else "never"
        click.echo(
            f"{source.name:<20} {source.kind:<7} precedence {source.precedence:<4} {summary.records:>9,} records "
            f"({summary.missing:,} missing)  last success {last}" + (f"  [{overrides}]" if overrides else "")
        )


@sources_group.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice([kind for kind in SOURCE_KINDS if kind != "manual"]), required=True)
@click.option("--precedence", default="50", show_default=True)
@click.option("--description", default="")
@click.option("--configuration", default="", help="JSON configuration (api sources).")
@with_appcontext
def create_command(name: str, kind: str, precedence: str, description: str, configuration: str) -> None:
    """Declare source NAME."""
    try:
        name = check_source_name(name)
        if find_source(db.session, name):
            raise ValueError(f"a source named {name} exists already")
        source = Source(
            name=name,
            kind=kind,
            precedence=parse_precedence(precedence, "precedence"),
            description=description.strip() or None,
            field_precedence={},
            configuration=parse_configuration(configuration) if kind == "api" else {},
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    db.session.add(source)
    db.session.commit()
    click.echo(f"Source {name} ({kind}) declared with precedence {source.precedence}.")


@sources_group.command("set")
@click.argument("name")
@click.option("--precedence")
@click.option("--field", "fields", multiple=True, help="`application.status=90`; repeat; `--field ''` clears them.")
@with_appcontext
def set_command(name: str, precedence: str | None, fields: tuple[str, ...]) -> None:
    """Change the precedence of source NAME (its default, or per field)."""
    source = find_source(db.session, name)
    if source is None:
        raise click.ClickException(f"No source named {name!r}.")
    before = (source.precedence, dict(source.field_precedence))
    try:
        if precedence is not None:
            source.precedence = parse_precedence(precedence, "precedence")
        if fields:
            source.field_precedence = parse_field_precedence("\n".join(fields))
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    changed = 0
    if (source.precedence, source.field_precedence) != before:
        changed = recompute_source(db.session, source, Actor.system("cli")).changes_written
    db.session.commit()
    overrides = source.field_precedence or "none"
    click.echo(
        f"Source {source.name}: precedence {source.precedence}, per field {overrides}; {changed:,} values changed."
    )
