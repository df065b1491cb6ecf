"""`/api/v1/search?q=`: everything matching a query, grouped by type."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, url_for

from portal.core.access import Role, requires
from portal.core.api import json_response, lowercase_args, reject_unknown
from portal.core.errors import ApiError
from portal.core.pagination import whole_number
from portal.extensions import db
from portal.search.queries import search_everything

bp = Blueprint("search_api", __name__, url_prefix="/api/v1/search")

MAX_LIMIT = 50
DEFAULT_LIMIT = 10


@bp.get("")
@requires(Role.READER)
def search() -> Response:
    args = lowercase_args(request.args)
    reject_unknown(args, ("q", "limit"))
    q = (args.get("q") or "").strip()
    max_length = current_app.config["SEARCH_MAX_QUERY_LENGTH"]
    if not q:
        raise ApiError(400, "q is required: the text to search for.")
    if len(q) > max_length:
        raise ApiError(400, f"q must be at most {max_length} characters, got {len(q)}.")
    # An empty `limit=` is no limit given, as for every parameter.
    raw_limit = (args.get("limit") or "").strip() or str(DEFAULT_LIMIT)
    limit = whole_number(raw_limit)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw_limit[:20]!r}.")
    groups = search_everything(db.session, q, limit, current_app.config["SEARCH_EXACT_COUNT_LIMIT"])
    for result in groups["applications"]["results"]:
        result["url"] = url_for("applications_api.detail", trigram=result["trigram"], _external=True)
    return json_response({"q": q, **groups})
