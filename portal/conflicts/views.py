"""The Conflicts page: where sources disagree, the winner shown, and the steward's way to settle it."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.conflicts.queries import ConflictFilters, find_conflict, select_conflicts
from portal.conflicts.resolve import Resolution, ResolutionError, resolve
from portal.core.access import Role, requires
from portal.core.htmx import is_partial, vary_on_htmx
from portal.core.pagination import PageRequest, count_rows
from portal.extensions import db
from portal.imports.runs import Actor
from portal.imports.schema import OBJECT_TYPES

bp = Blueprint("conflicts", __name__)

PER_PAGE = 25


@bp.get("/conflicts")
@requires(Role.STEWARD)
def list_() -> BaseResponse:
    filters = ConflictFilters.from_args(request.args)
    page = PageRequest.of_page(request.args, PER_PAGE)
    statement = select_conflicts(filters)
    conflicts = db.session.scalars(statement.limit(page.size).offset(page.offset)).all()
    context = {
        "conflicts": conflicts,
        "filters": filters,
        "page": page,
        "total": count_rows(db.session, statement),
        "fields": sorted({column.name for object_type in OBJECT_TYPES.values() for column in object_type.fields}),
    }
    template = "conflicts/_results.html" if is_partial() else "conflicts/list.html"
    return vary_on_htmx(current_app.make_response(render_template(template, **context)))


@bp.post("/conflicts/<int:conflict_id>/resolve")
@requires(Role.STEWARD)
def resolve_(conflict_id: int) -> BaseResponse:
    """Keep the winner, choose a source's value (`choice=source:<name>`) or pin a typed value (`choice=pin`)."""
    conflict = find_conflict(db.session, conflict_id)
    if conflict is None:
        abort(404, f"There is no conflict {conflict_id}.")
    choice = request.form.get("choice", "")
    note = request.form.get("note")
    if choice == "keep":
        resolution = Resolution("kept", note=note)
    elif choice.startswith("source:"):
        resolution = Resolution("chose", source=choice.removeprefix("source:"), note=note)
    elif choice == "pin":
        resolution = Resolution("pinned", value=request.form.get("value", ""), note=note)
    else:
        resolution = Resolution(choice or "(nothing)")
    try:
        with db.session.begin_nested():  # a refused resolution leaves nothing behind
            resolve(db.session, conflict, resolution, Actor.of_request())
    except ResolutionError as error:
        flash(f"Conflict on {conflict.field} of {conflict.natural_key}: {error}", "error")
    else:
        db.session.commit()
        target = conflict.natural_key.replace("|", " / ")
        flash(f"Resolved: {conflict.field} of {target} is “{conflict.resolution_value}”.", "success")
    return redirect(_back(request.form.get("back", "")), code=303)


def _back(back: str) -> str:
    """Where the form came from (the Conflicts page with its filters), if it is that page: a redirect never
    leaves it, nor carries a control character into the Location header (which Werkzeug refuses: a 500)."""
    on_page = back == "/conflicts" or back.startswith("/conflicts?")
    return back if on_page and back.isprintable() else url_for("conflicts.list_")
