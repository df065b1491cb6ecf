"""`/api/v1/me`: who the API thinks you are; the quickest way for a script to check its token."""

from __future__ import annotations

from flask import Blueprint, Response, g

from portal.auth.guard import signed_in_caller
from portal.auth.tokens import TokenGrant
from portal.core.access import Role, requires
from portal.core.api import json_response

bp = Blueprint("auth_api", __name__, url_prefix="/api/v1")


@bp.get("/me")
@requires(Role.READER)
def me() -> Response:
    user = signed_in_caller()
    token: TokenGrant | None = g.get("token_grant")
    body = {
        "login": user.login,
        "display_name": user.display_name,
        "email": user.email,
        "role": user.role,
        "authenticated_by": "token" if token else "session",
        "token": None
        if token is None
        else {
            "prefix": token.prefix,
            "name": token.name,
            "scopes": sorted(token.scopes),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        },
    }
    return json_response(body)
