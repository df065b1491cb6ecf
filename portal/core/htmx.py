"""The one place that looks at htmx requests (STYLE.md section 3), through flask-htmx's `HTMX`."""

from __future__ import annotations

from flask import Response
from flask_htmx import HTMX

# Stateless: it only reads the current request's HX-* headers.
htmx = HTMX()


def is_htmx() -> bool:
    return bool(htmx)


def is_partial() -> bool:
    """True when htmx asks for a fragment: not a boosted navigation, not a history restore."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def vary_on_htmx(response: Response) -> Response:
    response.vary.add("HX-Request")
    return response
