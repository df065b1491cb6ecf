"""`/api/v1/openapi.json` and `/api/docs`: the API described for machines and for people."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from portal.core.access import Role, requires
from portal.core.api import json_response
from portal.openapi.docs import operation_views, rich_text, schema_views
from portal.openapi.document import openapi_document

bp = Blueprint("openapi", __name__)


@bp.get("/api/v1/openapi.json")
@requires(Role.READER)
def document() -> Response:
    return json_response(openapi_document())


@bp.get("/api/docs")
@requires(Role.READER)
def docs() -> str:
    document = openapi_document()
    return render_template(
        "api/docs.html",
        document=document,
        introduction=rich_text(document["info"]["description"]),
        operations=operation_views(document, request.host_url),
        schemas=schema_views(document),
        schema_names=set(document["components"]["schemas"]),
    )
