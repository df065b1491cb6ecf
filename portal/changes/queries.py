"""Queries of the audit log, shared by an application's History tab and `GET /api/v1/changes`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import contains_eager
from werkzeug.datastructures import MultiDict

from portal.changes.models import OPERATIONS, Change
from portal.core.errors import ApiError
from portal.core.pagination import whole_number
from portal.imports.schema import KEY_SEPARATOR, OBJECT_TYPES, owning_application
from portal.sources.models import Source


@dataclass(frozen=True)
class ChangeFilters:
    """Changes of one application (and what belongs to it), object, field, source, actor, run, or period."""

    PARAMETERS = ("application", "object_type", "key", "field", "source", "actor", "run", "operation", "since", "until")

    application: str | None = None
    object_type: str | None = None
    key: str | None = None
    field: str | None = None
    source: str | None = None
    actor: str | None = None
    run: int | None = None
    operation: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> ChangeFilters:
        """Raises `ApiError` (400) for an unknown object type or operation, a bad run id or date."""
        object_type = _text(args, "object_type")
        if object_type and object_type not in OBJECT_TYPES:
            raise ApiError(400, f"object_type must be one of {', '.join(OBJECT_TYPES)}.")
        operation = _text(args, "operation")
        if operation and operation not in OPERATIONS:
            raise ApiError(400, f"operation must be one of {', '.join(OPERATIONS)}.")
        raw_run = _text(args, "run")
        run = whole_number(raw_run) if raw_run else None
        if raw_run and (run is None or run < 1):
            raise ApiError(400, f"run must be an import run id (1 or more), got {raw_run[:20]!r}.")
        return cls(
            application=(_text(args, "application") or "").upper() or None,
            object_type=object_type,
            key=_text(args, "key"),
            field=_text(args, "field"),
            source=(_text(args, "source") or "").lower() or None,
            actor=_text(args, "actor"),
            run=run,
            operation=operation,
            since=_moment(args, "since"),
            until=_moment(args, "until"),
        )


def _text(args: MultiDict[str, str], name: str) -> str | None:
    return (args.get(name) or "").strip()[:600] or None


def _moment(args: MultiDict[str, str], name: str) -> datetime | None:
    raw = _text(args, name)
    if raw is None:
        return None
    try:
        moment = (
            datetime.fromisoformat(raw)
            if "T" in raw
            else datetime.combine(date.fromisoformat(raw), datetime.min.time())
        )
    except ValueError:
        raise ApiError(400, f"{name} must be a date (2026-11-26) or a date and time (2026-11-26T08:00:00Z).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def select_changes(filters: ChangeFilters) -> Select[Change]:
    """Newest first, each with its source loaded by the same query."""
    statement = (
        select(Change).outerjoin(Change.source).options(contains_eager(Change.source)).order_by(Change.id.desc())
    )
    conditions = [
        Change.application == filters.application if filters.application else None,
        Change.object_type == filters.object_type if filters.object_type else None,
        _of_object(filters.key, filters.object_type) if filters.key else None,
        Change.field == filters.field if filters.field else None,
        Source.name == filters.source if filters.source else None,
        Change.actor == filters.actor if filters.actor else None,
        Change.run_id == filters.run if filters.run else None,
        Change.operation == filters.operation if filters.operation else None,
        Change.at >= filters.since if filters.since else None,
        Change.at < filters.until if filters.until else None,
    ]
    return statement.where(*(condition for condition in conditions if condition is not None))


def _of_object(key: str, object_type: str | None) -> ColumnElement[bool]:
    """The changes of the object with this natural key. Keys are indexed only for objects no application
    owns (see `Change`): an application's objects are found through it, the first part of their key."""
    trigram = key.split(KEY_SEPARATOR, 1)[0]
    if object_type is None:  # an application's object, or one no application owns
        return and_(Change.natural_key == key, or_(Change.application == trigram, Change.application.is_(None)))
    owner = owning_application(object_type, (trigram,))
    return and_(Change.natural_key == key, Change.application == owner if owner else Change.application.is_(None))
