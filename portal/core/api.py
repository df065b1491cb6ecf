"""Helpers every JSON endpoint shares: argument checks, the list envelope, field selection, ETags."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import Select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.core.errors import ApiError
from portal.core.pagination import PageRequest, count_rows, page_links

# Parameters every list endpoint accepts besides its filters.
LIST_PARAMETERS = ("page", "page_size", "fields")


def lowercase_args(args: MultiDict[str, str]) -> MultiDict[str, str]:
    """Query arguments with lowercase names (`Trigram=Bca` and `trigram=Bca` mean the same). Every request's
    query string was checked before any view (text that is not UTF-8, control characters: core/inputs.py)."""
    result: MultiDict[str, str] = MultiDict()
    for name, value in args.items(multi=True):
        result.add(name.strip().lower(), value)
    return result


def search_text(args: MultiDict[str, str], max_length: int) -> str:
    """The `q` parameter, stripped. Raises `ApiError` (400) when it is longer than `max_length`."""
    q = " ".join(args.getlist("q")).strip()
    if len(q) > max_length:
        raise ApiError(400, f"q must be at most {max_length} characters, got {len(q)}.")
    return q


def reject_unknown(args: MultiDict[str, str], allowed: Iterable[str]) -> None:
    """Strict endpoints refuse parameters they do not know, so that a typo is not silently ignored."""
    known = set(allowed)
    unknown = sorted(set(args) - known)
    if unknown:
        raise ApiError(
            400,
            f"Unknown parameter {unknown[0]!r}. Allowed parameters: {', '.join(sorted(known))}.",
            allowed=sorted(known),
        )


def choice(args: MultiDict[str, str], name: str, allowed: tuple[str, ...]) -> list[str]:
    """Values of a repeated or comma-separated enumeration parameter, each checked against `allowed`."""
    values = [part.strip().lower() for raw in args.getlist(name) for part in raw.split(",") if part.strip()]
    for value in values:
        if value not in allowed:
            raise ApiError(
                400,
                f"Unknown {name} {value[:40]!r}. Allowed values: {', '.join(allowed)}.",
                allowed=list(allowed),
            )
    return values


def flag(args: MultiDict[str, str], name: str) -> bool:
    """A true/false parameter (`true`, `false`, `1`, `0`; absent is false). Raises `ApiError` (400) otherwise."""
    value = (args.get(name) or "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{name} must be true or false, got {value[:20]!r}.")
    return value in ("true", "1")


def detail_fields(available: Iterable[str]) -> list[str] | None:
    """For a detail endpoint: check its query (only `fields` is known) and return the selected fields."""
    args = lowercase_args(request.args)
    reject_unknown(args, ("fields",))
    return selected_fields(args, available)


def selected_fields(args: MultiDict[str, str], available: Iterable[str]) -> list[str] | None:
    """The `fields=` selection, or None for all fields (also when it names none, as `fields=,`: never an empty
    object). Raises `ApiError` for an unknown field."""
    names = [name.strip() for raw in args.getlist("fields") for name in raw.split(",") if name.strip()]
    known = list(available)
    for name in names:
        if name not in known:
            raise ApiError(400, f"Unknown field {name[:40]!r}. Available fields: {', '.join(known)}.", allowed=known)
    return names or None


def pick(item: Mapping[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return dict(item) if fields is None else {name: item[name] for name in fields}


def list_envelope(
    results: list[dict[str, Any]], count: int, count_is_estimate: bool, page: PageRequest, args: MultiDict[str, str]
) -> dict[str, Any]:
    next_url, previous_url = page_links(page, count, args)
    return {
        "count": count,
        "count_is_estimate": count_is_estimate,
        "page": page.page,
        "page_size": page.size,
        "next": next_url,
        "previous": previous_url,
        "results": results,
    }


def json_body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def json_body_response(body: bytes, status: int = 200, cache: str | None = None) -> Response:
    """Answer a serialised JSON body with a strong ETag, or 304 when the client's `If-None-Match` matches.

    `cache` ("hit" or "miss") is reported in `X-Cache` when the shared search cache is in use.
    """
    response = current_app.response_class(body, status=status, mimetype="application/json")
    response.set_etag(hashlib.blake2b(body, digest_size=16).hexdigest())
    if cache:
        response.headers["X-Cache"] = cache
    response.make_conditional(request)
    return response


def json_response(payload: Any, status: int = 200) -> Response:
    """Serialise `payload` and answer it as `json_body_response` does."""
    return json_body_response(json_body(payload), status)


def paginated_json(
    session: Session,
    statement: Select,
    args: MultiDict[str, str],
    serialize: Callable[[Any], dict[str, Any]],
    available_fields: Iterable[str],
) -> Response:
    """Run a list `statement` for the requested page and answer the standard envelope."""
    page = PageRequest.from_args(args)
    fields = selected_fields(args, available_fields)
    items = session.scalars(statement.limit(page.size).offset(page.offset)).all()
    count = len(items) if page.offset == 0 and len(items) < page.size else count_rows(session, statement)
    results = [pick(serialize(item), fields) for item in items]
    return json_response(list_envelope(results, count, False, page, args))
