"""Queries of conflicts, shared by the Conflicts page and the API (same filters, same order)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, Text, cast, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.applications.models import Application
from portal.conflicts.models import CONFLICT_STATUSES, Conflict
from portal.core.errors import ApiError
from portal.entities.queries import select_subtree_ids
from portal.imports.schema import OBJECT_TYPES


@dataclass(frozen=True)
class ConflictFilters:
    """Open conflicts by default; by a source taking part, a field, an entity (its subtree) or an application."""

    PARAMETERS = ("status", "source", "field", "entity", "application", "object_type")

    status: str = "open"
    source: str | None = None
    field: str | None = None
    entity: str | None = None
    application: str | None = None
    object_type: str | None = None

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> ConflictFilters:
        """Raises `ApiError` (400) for a status or object type that does not exist."""
        status = (args.get("status") or "open").strip().lower()
        if status not in (*CONFLICT_STATUSES, "all"):
            raise ApiError(400, f"status must be one of {', '.join((*CONFLICT_STATUSES, 'all'))}, got {status[:20]!r}.")
        object_type = _text(args, "object_type", lower=True)
        if object_type and object_type not in OBJECT_TYPES:
            raise ApiError(400, f"object_type must be one of {', '.join(OBJECT_TYPES)}, got {object_type[:20]!r}.")
        return cls(
            status=status,
            source=_text(args, "source", lower=True),
            field=_text(args, "field", lower=True),
            entity=_text(args, "entity"),
            application=(_text(args, "application") or "").upper() or None,
            object_type=object_type,
        )

    def as_args(self) -> dict[str, str]:
        return {name: value for name in self.PARAMETERS if (value := getattr(self, name))}


def _text(args: MultiDict[str, str], name: str, lower: bool = False) -> str | None:
    value = (args.get(name) or "").strip()[:100]
    return (value.lower() if lower else value) or None


def select_conflicts(filters: ConflictFilters) -> Select[Conflict]:
    statement = select(Conflict).order_by(Conflict.opened_at.desc(), Conflict.id.desc())
    if filters.status != "all":
        statement = statement.where(Conflict.status == filters.status)
    if filters.field:
        statement = statement.where(Conflict.field == filters.field)
    if filters.object_type:
        statement = statement.where(Conflict.object_type == filters.object_type)
    if filters.application:
        statement = statement.where(Conflict.application == filters.application)
    if filters.entity:
        in_subtree = select(Application.trigram).where(Application.entity_id.in_(select_subtree_ids(filters.entity)))
        statement = statement.where(Conflict.application.in_(in_subtree))
    if filters.source:
        # `candidates` is stored as JSON text, in which each entry reads "source": "<name>" (json.dumps).
        statement = statement.where(cast(Conflict.candidates, Text).contains(f'"source": "{filters.source}"'))
    return statement


def count_open_conflicts(session: Session, application: str | None = None) -> int:
    statement = select(func.count()).select_from(Conflict).where(Conflict.status == "open")
    if application:
        statement = statement.where(Conflict.application == application)
    return session.scalar(statement) or 0


def find_conflict(session: Session, conflict_id: int) -> Conflict | None:
    return session.get(Conflict, conflict_id)
