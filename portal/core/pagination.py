"""Page requests parsed from `page` and `page_size`, and the links of a page of results."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import current_app, request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.core.errors import ApiError

# ASCII digits (str.isdigit() also takes `²`, which int() then refuses), and `8.0`: JSON Schema counts it as
# the integer 8, so a client generated from the OpenAPI document may spell a page number that way.
WHOLE_NUMBER = re.compile(r"\s*\+?([0-9]+)(?:\.0*)?\s*")
# The largest id SQLite stores (a signed 64-bit integer).
MAX_WHOLE_NUMBER = 2**63 - 1


def whole_number(raw: str) -> int | None:
    """`raw` read as a whole number (`8`, `+8`, `8.0`), or None when it is not one, or is larger than a database
    id can be (SQLite cannot bind more than 64 bits: an OverflowError; int() refuses past 4,300 digits)."""
    match = WHOLE_NUMBER.fullmatch(raw)
    digits = match.group(1).lstrip("0") if match else ""
    if match is None or len(digits) > len(str(MAX_WHOLE_NUMBER)):
        return None
    value = int(digits or "0")
    return value if value <= MAX_WHOLE_NUMBER else None


@dataclass(frozen=True)
class PageRequest:
    """Which page of a result is asked for; `page` counts from 1."""

    page: int = 1
    size: int = 50

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> PageRequest:
        """Parse `page` and `page_size`. Raises `ApiError` (400) for a non-numeric or out-of-range value."""
        maximum = current_app.config["API_MAX_PAGE_SIZE"]
        page = _positive_int(args, "page", 1, limit=1_000_000)
        size = _positive_int(args, "page_size", current_app.config["API_DEFAULT_PAGE_SIZE"], limit=None)
        if size > maximum:
            raise ApiError(400, f"page_size must be at most {maximum}, got {size}.", maximum=maximum)
        return cls(page=page, size=size)

    @classmethod
    def of_page(cls, args: MultiDict[str, str], size: int) -> PageRequest:
        """For a portal page listing `size` items at a time: a `page` that makes no sense shows the first."""
        page = whole_number(args.get("page", "1"))
        return cls(page=page if page is not None and 0 < page <= 1_000_000 else 1, size=size)


def _positive_int(args: MultiDict[str, str], name: str, default: int, limit: int | None) -> int:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = whole_number(raw)
    if value is None:
        raise ApiError(400, f"{name} must be a whole number of 1 or more, got {raw[:40]!r}.")
    if value < 1 or (limit is not None and value > limit):
        bound = f" and at most {limit}" if limit else ""
        raise ApiError(400, f"{name} must be a whole number of 1 or more{bound}, got {value}.")
    return value


def page_links(page: PageRequest, count: int, args: MultiDict[str, str]) -> tuple[str | None, str | None]:
    """Absolute URLs of the next and previous pages, keeping every other query parameter."""

    def link(number: int) -> str:
        params: MultiDict[str, Any] = MultiDict(args)
        params.setlist("page", [str(number)])
        params.setlist("page_size", [str(page.size)])
        return f"{request.base_url}?{urlencode(list(params.items(multi=True)))}"

    has_next = page.offset + page.size < count
    next_url = link(page.page + 1) if has_next else None
    previous_url = link(page.page - 1) if page.page > 1 else None
    return next_url, previous_url


def count_rows(session: Session, statement: Select) -> int:
    """How many rows `statement` returns."""
    return session.execute(select(func.count()).select_from(statement.order_by(None).subquery())).scalar_one()
