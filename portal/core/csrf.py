"""Protection against cross-site request forgery for browser requests that change something.

A random token lives in the signed session; forms send it as the `csrf_token` field and htmx sends it
in the `X-CSRF-Token` header (base.html sets `hx-headers` once on <body>). Requests authenticated by
a bearer token carry no ambient credential, so the access guard exempts them.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import request, session

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """This session's token, created on first use (templates call it)."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return str(token)


def csrf_failure() -> str | None:
    """Why this state-changing request must be refused, or None when it carries the session's token."""
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin and origin != "null" and _origin_of(origin) != _origin_of(request.host_url):
        return "The request came from another site."
    expected = session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not expected:
        return "Your session expired before the form was sent."
    if not sent or not hmac.compare_digest(str(expected), sent):
        return "The form was out of date or did not come from this portal."
    return None


def _origin_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()
