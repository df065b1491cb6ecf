"""Portal pages for applications: the search (home page), one application's page, and the export."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, current_app, render_template, request

from portal.applications.detail import build_page, is_well_formed, searchable
from portal.applications.export import export_response
from portal.applications.listing import search_response
from portal.applications.models import normalize_trigram
from portal.applications.queries import find_application, suggest_trigrams
from portal.core.access import Role, requires
from portal.extensions import db

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
