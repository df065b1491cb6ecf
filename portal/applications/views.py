"""Portal pages for applications: the search (home page), one application's page, and the export."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request

from portal.applications.queries import ApplicationFilters
from portal.applications.search import search_applications
from portal.core.access import Role, requires
from portal.core.api import lowercase_args
from portal.core.htmx import is_partial, vary_on_htmx
from portal.core.pagination import PageRequest
from portal.extensions import db

bp = Blueprint("applications", __name__)


@bp.get("/")
@requires(Role.READER)
def list_() -> Response:
    args = lowercase_args(request.args)
    filters = ApplicationFilters.from_args(args, current_app.config["SEARCH_MAX_QUERY_LENGTH"])
    page = PageRequest.from_args(args)
    found = search_applications(db.session, filters, page, current_app.config["SEARCH_EXACT_COUNT_LIMIT"])
    template = "applications/_results.html" if is_partial() else "applications/list.html"
    return vary_on_htmx(current_app.make_response(render_template(template, found=found, filters=filters, page=page)))


@bp.get("/applications/<trigram>")
@requires(Role.READER)
def detail(trigram: str) -> Response:
    abort(404)


@bp.get("/export")
@requires(Role.READER)
def export() -> Response:
    """The current search (every page, same filters and sort) as xlsx, csv or json, streamed."""
    abort(404)
