"""`GET /api/v1/changes`: the audit log, newest first, with the History tab's filters and more."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from portal.changes.models import Change
from portal.changes.queries import ChangeFilters, select_changes
from portal.core.access import Role, requires
from portal.core.api import LIST_PARAMETERS, lowercase_args, paginated_json, reject_unknown
from portal.extensions import db

bp = Blueprint("changes_api", __name__, url_prefix="/api/v1")

FIELDS = ("id", "at", "actor", "source", "run", "object_type", "key", "application", "field", "operation", "old", "new")


def serialize_change(change: Change) -> dict[str, Any]:
    return {
        "id": change.id,
        "at": change.at.isoformat(),
        "actor": change.actor,
        "source": change.source.name if change.source else None,
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
    return paginated_json(db.session, statement, args, serialize_change, FIELDS)
