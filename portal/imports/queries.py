"""Queries of import runs and of their diff rows, shared by the Imports pages and the API."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.core.errors import ApiError
from portal.imports.models import ROW_ACTIONS, RUN_KINDS, RUN_STATUSES, ImportRow, ImportRun
from portal.sources.models import Source


@dataclass(frozen=True)
class RunFilters:
    """Which runs to list: by source name, status and kind."""

    PARAMETERS = ("source", "status", "kind")

    source: str | None = None
    status: str | None = None
    kind: str | None = None

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> RunFilters:
        """Raises `ApiError` (400) for a status or kind that does not exist."""
        return cls(
            source=(args.get("source") or "").strip().lower() or None,
            status=_one_of(args, "status", RUN_STATUSES),
            kind=_one_of(args, "kind", RUN_KINDS),
        )


def _one_of(args: MultiDict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = (args.get(name) or "").strip().lower()
    if value and value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(allowed)}, got {value[:30]!r}.")
    return value or None


def select_runs(filters: RunFilters) -> Select[ImportRun]:
    statement = select(ImportRun).join(ImportRun.source).order_by(ImportRun.id.desc())
    if filters.source:
        statement = statement.where(Source.name == filters.source)
    if filters.status:
        statement = statement.where(ImportRun.status == filters.status)
    if filters.kind:
        statement = statement.where(ImportRun.kind == filters.kind)
    return statement


def find_run(session: Session, run_id: int) -> ImportRun | None:
    return session.get(ImportRun, run_id)


@dataclass(frozen=True)
class RowFilters:
    """Which diff rows of a run to show: by action and by sheet (or object type for pushes)."""

    action: str | None = None
    sheet: str | None = None

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> RowFilters:
        action = args.get("action") or None
        return cls(action=action if action in ROW_ACTIONS else None, sheet=(args.get("sheet") or None))


def select_run_rows(run_id: int, filters: RowFilters) -> Select[ImportRow]:
    statement = select(ImportRow).where(ImportRow.run_id == run_id).order_by(ImportRow.position)
    if filters.action:
        statement = statement.where(ImportRow.action == filters.action)
    if filters.sheet:
        statement = statement.where(ImportRow.sheet == filters.sheet)
    return statement


def count_rows_by_sheet(session: Session, run_id: int) -> dict[str, int]:
    rows = session.execute(
        select(ImportRow.sheet, func.count()).where(ImportRow.run_id == run_id).group_by(ImportRow.sheet)
    )
    return {sheet or "": count for sheet, count in rows}


def find_active_apply(session: Session, source_id: int, other_than: int) -> ImportRun | None:
    """A run of this source being applied right now (two applies of one source never interleave)."""
    return session.scalars(
        select(ImportRun).where(
            ImportRun.source_id == source_id, ImportRun.status == "applying", ImportRun.id != other_than
        )
    ).first()


def count_runs_by_status(session: Session) -> list[tuple[str, int]]:
    """(status, runs) for every status, zeros included: the `portal_import_runs` gauge of /metrics."""
    rows = session.execute(select(ImportRun.status, func.count()).group_by(ImportRun.status))
    counts = {status: count for status, count in rows}
    return [(status, counts.get(status, 0)) for status in RUN_STATUSES]


def select_excel_sources() -> Select[Source]:
    return select(Source).where(Source.kind == "excel").order_by(Source.name)
