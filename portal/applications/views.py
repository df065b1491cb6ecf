"""Portal pages for applications: the search (home page), one application's page, and the export."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.applications.detail import build_page, is_well_formed, searchable
from portal.applications.export import export_response
from portal.applications.forms import EDITABLE, INPUT_TYPES, current_values, read_form, save_edit
from portal.applications.listing import search_response
from portal.applications.models import normalize_trigram
from portal.applications.queries import find_application, suggest_trigrams
from portal.core.access import Role, requires
from portal.core.htmx import is_partial, vary_on_htmx
from portal.extensions import db
from portal.imports.runs import Actor

bp = Blueprint("applications", __name__)


@bp.get("/")
@requires(Role.READER)
def list_() -> Response:
    """The search, the home page: the full page, or only its results region for htmx."""
    return search_response(db.session, "applications/list.html", "applications.list_", fixed={})


@bp.get("/applications/<trigram>")
@requires(Role.READER)
def detail(trigram: str) -> Response:
    """Everything about one application; an unknown or malformed trigram gets a 404 page with close ones."""
    application = find_application(db.session, trigram) if is_well_formed(trigram) else None
    if application is None:
        wanted = normalize_trigram(trigram)[:40]
        suggestions = suggest_trigrams(db.session, searchable(wanted))
        html = render_template("applications/not_found.html", trigram=wanted, suggestions=suggestions)
        return current_app.make_response((html, 404))
    page = build_page(db.session, application, date.today())
    return current_app.make_response(render_template("applications/detail.html", page=page))


@bp.get("/export")
@requires(Role.READER)
def export() -> Response:
    """The current search (every page, same filters and sort) as xlsx, csv or json, streamed."""
    return export_response(request.args)


def _editable(trigram: str) -> str:
    """The stored trigram of an existing application, or 404."""
    application = find_application(db.session, trigram) if is_well_formed(trigram) else None
    if application is None:
        abort(404, f"No application has the trigram {normalize_trigram(trigram)[:16]}.")
    return application.trigram


def _edit_form(trigram: str, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    template = "applications/_edit.html" if is_partial() else "applications/edit.html"
    html = render_template(
        template, trigram=trigram, columns=EDITABLE, input_types=INPUT_TYPES, values=values, errors=errors
    )
    return vary_on_htmx(current_app.make_response((html, status)))


@bp.get("/applications/<trigram>/edit")
@requires(Role.EDITOR)
def edit(trigram: str) -> Response:
    """The edit form: inline in the page for htmx, a page of its own otherwise."""
    stored = _editable(trigram)
    return _edit_form(stored, current_values(db.session, stored), {})


@bp.post("/applications/<trigram>/edit")
@requires(Role.EDITOR)
def save(trigram: str) -> BaseResponse:
    """Save what changed as manual statements (audited); errors send the form back with messages."""
    stored = _editable(trigram)
    form = read_form(request.form.to_dict())
    plan = None if form.errors else save_edit(db.session, stored, form, Actor.of_request())
    if form.errors:
        return _edit_form(stored, request.form.to_dict(), form.errors, 422)
    db.session.commit()
    changed = sum(len(outcome.changes) for outcome in plan.outcomes) if plan else 0
    message = f"Saved: {changed} {'value' if changed == 1 else 'values'} changed." if changed else "Nothing changed."
    flash(message, "success")
    return redirect(url_for("applications.detail", trigram=stored), code=303)
