"""The Sources page: every source with its precedence and freshness; admins declare and tune them here."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.core.access import Role, requires
from portal.core.models import utcnow
from portal.extensions import db
from portal.imports.runs import Actor, recompute_source
from portal.sources.forms import parse_configuration, parse_field_precedence, parse_precedence
from portal.sources.models import SOURCE_KINDS, Source
from portal.sources.queries import check_source_name, find_source, get_source_summaries

bp = Blueprint("sources", __name__)


@bp.get("/sources")
@requires(Role.STEWARD)
def list_() -> BaseResponse:
    return current_app.make_response(_page())


def _page(error: str | None = None, status: int = 200, form: dict[str, Any] | None = None) -> tuple[str, int]:
    html = render_template(
        "sources/list.html",
        summaries=get_source_summaries(db.session),
        kinds=[kind for kind in SOURCE_KINDS if kind != "manual"],
        now=utcnow(),
        error=error,
        form=form or {},
    )
    return html, status


@bp.post("/sources")
@requires(Role.ADMIN)
def create() -> BaseResponse:
    form = request.form.to_dict()
    try:
        name = check_source_name(form.get("name", ""))
        if find_source(db.session, name):
            raise ValueError(f"a source named {name} exists already")
        kind = form.get("kind", "")
        if kind not in SOURCE_KINDS or kind == "manual":
            raise ValueError("choose the kind: excel, push or api")
        source = Source(name=name, kind=kind, field_precedence={}, configuration={})
        _apply_settings(source, form)
    except ValueError as error:
        return current_app.make_response(_page(f"Not created: {error}.", 400, form))
    db.session.add(source)
    db.session.commit()
    flash(f"Source {source.name} declared.", "success")
    return redirect(url_for("sources.list_"), code=303)


@bp.post("/sources/<name>")
@requires(Role.ADMIN)
def update(name: str) -> BaseResponse:
    source = find_source(db.session, name)
    if source is None:
        abort(404, f"There is no source {name[:40]!r}.")
    before = (source.precedence, dict(source.field_precedence))
    try:
        _apply_settings(source, request.form.to_dict())
    except ValueError as error:
        return current_app.make_response(_page(f"{source.name} not saved: {error}.", 400))
    message = f"Source {source.name} saved."
    if (source.precedence, source.field_precedence) != before:
        run = recompute_source(db.session, source, Actor.of_request())
        message += f" With its new precedence, {run.changes_written:,} values changed (run {run.id})."
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("sources.list_"), code=303)


def _apply_settings(source: Source, form: dict[str, str]) -> None:
    """Description, precedence, per-field precedence and (for API sources) configuration, all checked
    before any is set. Raises `ValueError`."""
    precedence = parse_precedence(form.get("precedence", ""), "precedence")
    field_precedence = parse_field_precedence(form.get("field_precedence", ""))
    configuration = parse_configuration(form.get("configuration", "")) if source.kind == "api" else None
    source.description = (form.get("description") or "").strip()[:500] or None
    source.precedence = precedence
    source.field_precedence = field_precedence
    if configuration is not None:
        source.configuration = configuration
