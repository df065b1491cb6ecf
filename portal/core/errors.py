"""Error responses: problem+json (RFC 9457) for the API, an HTML page or an inline fragment otherwise."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from portal.core.htmx import is_htmx

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error to answer as problem+json: `status`, a short `title`, and a `detail` a person can act on.

    `extra` members are added to the problem document (e.g. `suggestions`, `allowed`).
    """

    def __init__(self, status: int, detail: str, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.extra = extra


API_PREFIX = "/api/v1/"


def is_api_request() -> bool:
    """A call to the JSON API (tokens accepted, problem+json errors); `/api/docs` is a page."""
    return request.path.startswith(API_PREFIX)


def wants_json() -> bool:
    if is_api_request():
        return True
    best = request.accept_mimetypes.best_match(["application/json", "application/problem+json", "text/html"])
    return best in {"application/json", "application/problem+json"}


def problem_response(status: int, detail: str, title: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _default_title(status),
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _default_title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(status: int, detail: str, title: str | None = None, **extra: Any) -> Response | tuple[str, int]:
    """The error in the form the client reads: problem+json for the API, else a page, or an inline
    fragment for htmx (so that a failed swap shows a message, not a whole page in a table cell)."""
    if wants_json():
        return problem_response(status, detail, title, **extra)
    template = "errors/_inline.html" if is_htmx() else "errors/error.html"
    return render_template(template, status=status, title=title or _default_title(status), detail=detail), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response | tuple[str, int]:
        return error_response(error.status, error.detail, error.title, **error.extra)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
        status = error.code or 500
        response = error_response(status, error.description or _default_title(status))
        allow = error.get_response().headers.get("Allow")
        if status == 405 and allow and isinstance(response, Response):
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response | tuple[str, int]:
        from portal.extensions import db

        db.session.rollback()
        log.exception("unhandled error (request id %s)", g.get("request_id", "-"))
        if is_database_unavailable(error):
            _forget_the_caller()
            return error_response(503, "The database is not reachable right now. Try again in a few seconds.")
        if current_app.config.get("PROPAGATE_EXCEPTIONS"):
            raise error
        request_id = g.get("request_id", "-")
        return error_response(
            500,
            f"Something went wrong on our side. Quote request id {request_id} when reporting it.",
            request_id=request_id,
        )


def _forget_the_caller() -> None:
    """Answer the rest of the request as to an anonymous caller. The signed-in user lives in the database that just
    failed: the page's header and the request log would load it again (or refresh it, the rollback having expired
    it), fail the same way, and turn the 503 into a bare 500."""
    from flask_login import AnonymousUserMixin

    g._login_user = AnonymousUserMixin()  # where flask-login keeps the user of the request


def is_database_unavailable(error: Exception) -> bool:
    """The database cannot be reached: a connection was lost (the server stopped, or ended the session), or none
    could be opened (refused, timed out, the server starting up or shutting down)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if not isinstance(error, DBAPIError):
        return False
    # SQLAlchemy names no statement for an error raised while it opened the connection. (libpq's "could not
    # connect" of old is "connection to server ... failed" since PostgreSQL 14: a message is no test.)
    opening = isinstance(error, OperationalError) and error.statement is None
    return bool(error.connection_invalidated or opening)
