"""Logs: one JSON line per event on stdout, a request id on every line, and one line per request.

`configure_logging` installs a single handler on the root logger (JSON, or text for a person at a
terminal). Every record made while a request is served carries that request's id: taken from the
`X-Request-ID` header when it looks like one (so that the ingress's id follows the request here), made
up otherwise, and returned in the `X-Request-ID` response header. `init_request_log` writes the request
line (and feeds the request metrics): method, endpoint, path without its query string (the sign-in
callback's `code` and `state` must never be written down), status, duration, bytes sent and who called.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask, Response, g, has_request_context, request

from portal.core import metrics

log = logging.getLogger("portal.request")

# An incoming id is kept only when it is short and made of characters that are safe in a log line.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Attributes every LogRecord has; whatever else a record carries was passed as `extra` and is logged.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to records that do not carry one (outside a request: none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request id, then any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        line.update((name, value) for name, value in record.__dict__.items() if name not in _STANDARD_ATTRIBUTES)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A readable line for `make run`; control characters are escaped so that a URL cannot forge a line."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or "-"
        message = _escape_control_characters(record.getMessage())
        line = f"{self.formatTime(record)} {record.levelname} [{request_id}] {record.name}: {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _escape_control_characters(text: str) -> str:
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class _CurrentStreamHandler(logging.Handler):
    """Writes each line to whatever `sys.stdout` (or `sys.stderr`) is at that moment: pytest swaps the
    stream for each test, and a handler holding the first one would write to a closed file."""

    def __init__(self, stream_name: str) -> None:
        super().__init__()
        self.stream_name = stream_name

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = getattr(sys, self.stream_name)
            stream.write(self.format(record) + "\n")  # one write per line: threads cannot interleave
            stream.flush()
        except Exception:
            self.handleError(record)


_handler: logging.Handler | None = None


def configure_logging(app: Flask) -> None:
    """Send every log record to one handler in the chosen format (`LOG_FORMAT`), `portal.*` from `LOG_LEVEL`.

    Other libraries keep the root logger's level (warnings and worse): at INFO, SQLAlchemy would log
    every statement with its parameters. Calling this again (each test application does) replaces the
    handler rather than adding a second one.
    """
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    # A command's output (a new token, a generated password) goes to stdout and may be redirected into
    # a file: the log lines of a `flask ...` command go to stderr instead.
    _handler = _CurrentStreamHandler("stderr" if click.get_current_context(silent=True) else "stdout")
    _handler.setFormatter(JsonFormatter() if app.config["LOG_FORMAT"] == "json" else TextFormatter())
    _handler.addFilter(RequestIdFilter())
    root.addHandler(_handler)
    logging.getLogger("portal").setLevel(app.config["LOG_LEVEL"])


def init_request_log(app: Flask) -> None:
    """Assign the request id first thing, and log each request (and count it) once its answer is known."""
    app.before_request(_start_request)
    app.after_request(_finish_request)


def _start_request() -> None:
    g.request_started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex


def _finish_request(response: Response) -> Response:
    if "request_id" not in g:  # refused before the first hook ran (a URL value preprocessor, say)
        _start_request()
    response.headers["X-Request-ID"] = g.request_id
    fields = {
        "request_id": g.request_id,
        "method": request.method,
        "endpoint": request.endpoint,
        "path": request.path,
        "status": response.status_code,
        "user": _caller_name(),
    }
    started: float = g.request_started
    length = response.content_length
    if length is not None or not response.is_streamed:
        _record(fields, started, length if length is not None else response.calculate_content_length())
        return response
    # A streamed answer (an export) is logged once its last byte is sent, so that its duration covers the
    # whole download. This runs after the request context is gone: every field is captured above.
    sent = [0]
    response.response = _counting(response.response, sent)
    response.call_on_close(lambda: _record(fields, started, sent[0]))
    return response


def _caller_name() -> str | None:
    """The signed-in login, or `token:<id>` for an API token; None when the request identified nobody.

    Only what the access check already loaded is used: logging must not cost a database query.
    """
    grant = g.get("token_grant")
    if grant is not None:
        return f"token:{grant.token_id}"
    user = g.get("_login_user")  # where flask-login keeps the user it loaded for this request
    return user.login if user is not None and user.is_authenticated else None


def _counting(chunks: Iterable[bytes | str], sent: list[int]) -> Iterator[bytes | str]:
    try:
        for chunk in chunks:
            sent[0] += len(chunk.encode() if isinstance(chunk, str) else chunk)
            yield chunk
    finally:
        # Closing this generator must close the one it reads (the export's, which releases its cursor).
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _record(fields: dict[str, Any], started: float, length: int | None) -> None:
    seconds = time.perf_counter() - started
    metrics.observe_request(fields["endpoint"], fields["method"], fields["status"], seconds)
    log.info(
        "%s %s %s %.1fms",
        fields["method"],
        fields["path"],
        fields["status"],
        seconds * 1000,
        extra={**fields, "duration_ms": round(seconds * 1000, 1), "bytes": length},
    )
