"""The OpenAPI 3.1 document of `/api/v1` and a readable page generated from it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template

from portal.core.api import json_response

bp = Blueprint("openapi", __name__)


def openapi_document() -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "Referentiel API", "version": "1"}, "paths": {}}


@bp.get("/api/v1/openapi.json")
def document() -> Response:
    return json_response(openapi_document())


@bp.get("/api/docs")
def docs() -> str:
    return render_template("api/docs.html", document=openapi_document())
