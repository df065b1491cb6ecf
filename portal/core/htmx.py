"""The one place that reads htmx request headers (STYLE.md section 3)."""

from __future__ import annotations

from flask import Response, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def is_partial() -> bool:
    """True when htmx asks for a fragment: not a boosted navigation, not a history restore."""
    headers = request.headers
    return is_htmx() and not headers.get("HX-Boosted") and not headers.get("HX-History-Restore-Request")


def vary_on_htmx(response: Response) -> Response:
    response.vary.add("HX-Request")
    return response
