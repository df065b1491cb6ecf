"""An application's History tab: its changes and those of what belongs to it, loaded by htmx on demand."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request

from portal.applications.models import normalize_trigram
from portal.changes.models import Change
from portal.changes.queries import ChangeFilters, select_changes
from portal.core.access import Role, requires
from portal.core.htmx import vary_on_htmx
from portal.core.pagination import whole_number
from portal.extensions import db

bp = Blueprint("changes", __name__)

PER_PAGE = 30


@bp.get("/applications/<trigram>/history")
@requires(Role.READER)
def history(trigram: str) -> Response:
    """A fragment (the page includes it when htmx is off): changes newest first, `before=<id>` for more."""
    application = normalize_trigram(trigram)[:7]
    statement = select_changes(ChangeFilters(application=application))
    before = whole_number(request.args.get("before", ""))
    if before is not None:
        statement = statement.where(Change.id < before)
    rows = db.session.scalars(statement.limit(PER_PAGE + 1)).all()
    html = render_template(
        "changes/_history.html", trigram=application, rows=rows[:PER_PAGE], more=len(rows) > PER_PAGE
    )
    return vary_on_htmx(current_app.make_response(html))
