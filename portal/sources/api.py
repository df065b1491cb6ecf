"""`/api/v1/sources`: the sources, their precedence and freshness, as on the Sources page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from portal.core.access import Role, requires
from portal.core.api import json_response, lowercase_args, reject_unknown
from portal.core.errors import ApiError
from portal.extensions import db
from portal.sources.queries import SourceSummary, get_source_summaries

bp = Blueprint("sources_api", __name__, url_prefix="/api/v1")


def serialize_summary(summary: SourceSummary) -> dict[str, Any]:
    source = summary.source
    return {
        "name": source.name,
        "kind": source.kind,
        "description": source.description,
        "precedence": source.precedence,
        "field_precedence": source.field_precedence,
        "records": summary.records,
        "missing": summary.missing,
        "last_run_at": source.last_run_at.isoformat() if source.last_run_at else None,
        "last_success_at": source.last_success_at.isoformat() if source.last_success_at else None,
    }


@bp.get("/sources")
@requires(Role.READER)
def list_() -> Response:
    reject_unknown(lowercase_args(request.args), ())
    results = [serialize_summary(summary) for summary in get_source_summaries(db.session)]
    return json_response({"count": len(results), "results": results})


@bp.get("/sources/<name>")
@requires(Role.READER)
def detail(name: str) -> Response:
    reject_unknown(lowercase_args(request.args), ())
    for summary in get_source_summaries(db.session):
        if summary.source.name == name.strip().lower():
            return json_response(serialize_summary(summary))
    raise ApiError(404, f"There is no source {name[:40]!r}.")
