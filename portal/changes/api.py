"""`GET /api/v1/changes`: the audit log, newest first, with the History tab's filters and more."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from portal.changes.models import Change
from portal.changes.queries import ChangeFilters, select_changes
from portal.core.access import Role, requires
from portal.core.api import (
    LIST_PARAMETERS,
    json_response,
    list_envelope,
    lowercase_args,
    pick,
    reject_unknown,
    selected_fields,
)
from portal.core.pagination import PageRequest, count_rows
from portal.extensions import db

bp = Blueprint("changes_api", __name__, url_prefix="/api/v1")

FIELDS = ("id", "at", "actor", "source", "run", "object_type", "key", "application", "field", "operation", "old", "new")


def serialize_change(change: Change, source: str | None) -> dict[str, Any]:
    return {
        "id": change.id,
        "at": change.at.isoformat(),
        "actor": change.actor,
        "source": source,
        "run": change.run_id,
        "object_type": change.object_type,
        "key": change.natural_key,
        "application": change.application,
        "field": change.field,
        "operation": change.operation,
        "old": change.old_value,
        "new": change.new_value,
    }


@bp.get("/changes")
@requires(Role.READER)
def list_() -> Response:
    args = lowercase_args(request.args)
    reject_unknown(args, (*LIST_PARAMETERS, *ChangeFilters.PARAMETERS))
    statement = select_changes(ChangeFilters.from_args(args))
    page = PageRequest.from_args(args)
    fields = selected_fields(args, FIELDS)
    rows = db.session.execute(statement.limit(page.size).offset(page.offset)).all()
    count = len(rows) if page.offset == 0 and len(rows) < page.size else count_rows(db.session, statement)
    results = [pick(serialize_change(change, source), fields) for change, source in rows]
    return json_response(list_envelope(results, count, False, page, args))
