"""Checks every request's input before a view reads it: text that is not UTF-8, control characters, huge ids.

Werkzeug never refuses such input: it keeps the bytes of a bad query string or urlencoded form percent-encoded
(`%FF` arrives as the three characters `%FF`), replaces those of a multipart field with U+FFFD, and passes NUL
through, which PostgreSQL then refuses (a 500). So each is refused here with a 400 that names the parameter:
problem+json on the API, an error page (or fragment) in the portal.

- The path and the query string hold no control character at all (no valid URL does).
- Form fields may hold tabs and line breaks (a text area), but no other control character, as the import
  schema refuses for every value.
- An urlencoded form is read whole to be checked: it is refused (413) beyond `MAX_FORM_MEMORY_SIZE`, the limit
  Werkzeug applies to each text field of a multipart form. The API takes no forms: its bodies are left to it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, current_app, request
from werkzeug.routing import IntegerConverter, Map

from portal.core.errors import ApiError, is_api_request

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# What a form field may not hold: C0 controls but tab, line feed and carriage return, and DEL.
FORM_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Werkzeug's stand-in for bytes of a multipart field that were not UTF-8.
REPLACEMENT_CHARACTER = "\ufffd"
# The largest id SQLite stores (a signed 64-bit integer); PostgreSQL compares any larger number without error.
MAX_ID = 2**63 - 1


class DatabaseIntegerConverter(IntegerConverter):
    """`<int:...>` in a route: a number the database can compare with an id, else no match (404). Werkzeug's own
    takes any number of digits, which SQLite cannot bind (OverflowError: a 500)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def register_input_checks(app: Flask) -> None:
    """Check the URL and an urlencoded body before the access guard (nothing else has read them yet), and a
    multipart body once the guard has let the caller in (parsing one spools its files). To call before any
    blueprint is registered, so that their routes use the bounded `int` converter."""
    app.url_map.converters["int"] = DatabaseIntegerConverter
    app.before_request(check_url_and_urlencoded_form)


def register_multipart_check(app: Flask) -> None:
    """To call after the access guard is registered."""
    app.before_request(check_multipart_form)


def check_url_and_urlencoded_form() -> None:
    """Raises `ApiError` (400) for a control character in the path or the query string, or a query string or
    urlencoded form that is not UTF-8 or holds control characters; 413 for an urlencoded form past the limit."""
    if any(unicodedata.category(char) == "Cc" for char in request.path):
        # A NUL in a key would reach the database (PostgreSQL refuses it); no valid URL holds one.
        raise ApiError(400, "The URL path contains control characters, which are not allowed.")
    _check_query_string()
    # The API takes no form: a JSON body sent with curl's default type (`curl -d @batch.json`) is read as it is.
    if request.mimetype == FORM and not is_api_request():
        _check_urlencoded_form()


def check_multipart_form() -> None:
    """Raises `ApiError` (400) for a multipart field or file name that was not UTF-8 or holds control characters."""
    if request.mimetype != MULTIPART or is_api_request():
        return
    for name, value in request.form.items(multi=True):
        if REPLACEMENT_CHARACTER in name + value:
            raise ApiError(400, f"Field {_shown(name)} is not valid UTF-8 text.")
        _check_field(name, value)
    for name, upload in request.files.items(multi=True):
        filename = upload.filename or ""
        if REPLACEMENT_CHARACTER in filename or any(unicodedata.category(char) == "Cc" for char in filename):
            raise ApiError(400, f"The name of the file sent as {_shown(name)} is not valid text: rename the file.")


def _check_query_string() -> None:
    """Raises `ApiError` (400) for a parameter whose bytes are not UTF-8 (Werkzeug would keep them
    percent-encoded) or that holds control characters."""
    for pair in request.query_string.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        if _decoded(raw_name) is None or _decoded(raw_value) is None:
            raise ApiError(400, f"Parameter {_shown(_lenient(raw_name))} is not valid UTF-8 text.")
    for name, value in request.args.items(multi=True):
        if any(unicodedata.category(char) == "Cc" for char in value + name):
            raise ApiError(400, f"Parameter {_shown(name)} contains control characters, which are not allowed.")


def _check_urlencoded_form() -> None:
    limit = current_app.config["MAX_FORM_MEMORY_SIZE"]
    if limit is not None and (request.content_length or 0) > limit:
        raise ApiError(413, f"The form is larger than the limit of {limit // 1000} kB.")
    body = request.get_data(cache=True, parse_form_data=False)  # the form is parsed from this copy later
    if limit is not None and len(body) > limit:
        raise ApiError(413, f"The form is larger than the limit of {limit // 1000} kB.")
    for pair in body.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decoded(raw_name)
        if name is None:
            raise ApiError(400, f"Field {_shown(_lenient(raw_name))} is not valid UTF-8 text.")
        value = _decoded(raw_value)
        if value is None:
            raise ApiError(400, f"Field {_shown(name)} is not valid UTF-8 text.")
        _check_field(name, value)


def _check_field(name: str, value: str) -> None:
    if FORM_CONTROL_CHARACTERS.search(name) or FORM_CONTROL_CHARACTERS.search(value):
        raise ApiError(400, f"Field {_shown(name)} contains control characters, which are not allowed.")


def _decoded(raw: bytes) -> str | None:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lenient(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", errors="replace")


def _shown(name: str) -> str:
    """The field's name as the message quotes it: short, its control characters escaped."""
    return repr(name[:40])
