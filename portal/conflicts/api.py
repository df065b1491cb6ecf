"""`/api/v1/conflicts`: the Conflicts page's list as JSON, with the same filters."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from portal.conflicts.models import Conflict
from portal.conflicts.queries import ConflictFilters, select_conflicts
from portal.core.access import Role, requires
from portal.core.api import LIST_PARAMETERS, lowercase_args, paginated_json, reject_unknown
from portal.extensions import db

bp = Blueprint("conflicts_api", __name__, url_prefix="/api/v1")

FIELDS = ("id", "object_type", "key", "application", "field", "status", "candidates", "opened_at", "resolution")


def serialize_conflict(conflict: Conflict) -> dict[str, Any]:
    return {
        "id": conflict.id,
        "object_type": conflict.object_type,
        "key": conflict.natural_key,
        "application": conflict.application,
        "field": conflict.field,
        "status": conflict.status,
        "candidates": conflict.candidates,
        "opened_at": conflict.opened_at.isoformat(),
        "resolution": None
        if conflict.status == "open"
        else {
            "how": conflict.resolution,
            "value": conflict.resolution_value,
            "by": conflict.resolved_by,
            "at": conflict.resolved_at.isoformat() if conflict.resolved_at else None,
            "note": conflict.note,
        },
    }


@bp.get("/conflicts")
@requires(Role.READER)
def list_() -> Response:
    args = lowercase_args(request.args)
    reject_unknown(args, (*LIST_PARAMETERS, *ConflictFilters.PARAMETERS))
    statement = select_conflicts(ConflictFilters.from_args(args))
    return paginated_json(db.session, statement, args, serialize_conflict, FIELDS)
