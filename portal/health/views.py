"""Operations endpoints: `/healthz` (the process answers), `/readyz` (it can serve), `/metrics` (Prometheus)."""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import text

from portal.core.access import public
from portal.core.errors import problem_response
from portal.core.metrics import render_metrics
from portal.extensions import db
from portal.migrate import current_revision, head_revision, known_revisions

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """Ready when the database answers and its schema is at this code's latest migration, or ahead of it.

    Ahead means a revision this code does not know: a newer release has migrated already (its
    migration Job runs before its rollout, and migrations add before they remove). The running
    release keeps serving meanwhile, and a rollback to it becomes ready again.
    """
    expected = head_revision()
    try:
        connection = db.session.connection()
        connection.execute(text("SELECT 1"))
        current = current_revision(connection)
    except Exception as error:  # any failure to reach the database means "not ready"
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable", detail=type(error).__name__), 503
    if current != expected and (current is None or current in known_revisions()):
        return jsonify(status="unavailable", database="reachable", migration=current, expected=expected), 503
    ahead = current != expected
    return jsonify(status="ok", database="reachable", migration=current, ahead_of_this_release=ahead), 200


@bp.get("/metrics")
@public
def metrics() -> Response:
    """Prometheus metrics, for callers on the monitoring networks or holding the metrics token.

    `@public` lets the request past the sign-in check, and this view makes its own. A refusal is a 403
    whose detail names the settings: hiding a path that every Prometheus target has would protect
    nothing, while a 404 would send whoever sets up the scrape looking for a wrong URL.
    """
    if not _may_scrape():
        return problem_response(
            403,
            "Metrics are served only to the networks in PORTAL_METRICS_ALLOWED_NETWORKS, "
            "or with `Authorization: Bearer <PORTAL_METRICS_TOKEN>`.",
        )
    body, content_type = render_metrics(request.headers.get("Accept"))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _may_scrape() -> bool:
    token: str = current_app.config["METRICS_TOKEN"]
    kind, _, sent = request.headers.get("Authorization", "").partition(" ")
    if token and kind.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:  # no address (a unix socket): only the token opens the door
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1, from a server listening on IPv6
    return any(address in network for network in current_app.config["METRICS_ALLOWED_NETWORKS"])
