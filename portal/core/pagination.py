"""Page requests parsed from `page` and `page_size`, and the links of a page of results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import current_app, request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.core.errors import ApiError


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
        raw = args.get("page", "1")
        return cls(page=int(raw) if raw.isdigit() and 0 < int(raw) <= 1_000_000 else 1, size=size)


def _positive_int(args: MultiDict[str, str], name: str, default: int, limit: int | None) -> int:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number of 1 or more, got {raw[:40]!r}.") from None
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
