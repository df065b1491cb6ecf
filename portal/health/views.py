"""Probes for the orchestrator: `/healthz` (the process answers) and `/readyz` (it can serve)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from portal.core.access import public
from portal.extensions import db
from portal.migrate import current_revision, head_revision

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """Ready when the database answers and its schema is at the latest migration."""
    expected = head_revision()
    try:
        connection = db.session.connection()
        connection.execute(text("SELECT 1"))
        current = current_revision(connection)
    except Exception as error:  # any failure to reach the database means "not ready"
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable", detail=type(error).__name__), 503
    if current != expected:
        return jsonify(status="unavailable", database="reachable", migration=current, expected=expected), 503
    return jsonify(status="ok", database="reachable", migration=current), 200
