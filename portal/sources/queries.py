"""Queries of sources (with their freshness and record counts) and of what they say about an object (provenance)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from portal.imports.schema import APPLICATION_OWNED, KEY_SEPARATOR
from portal.sources.models import SOURCE_NAME_PATTERN, Source, SourceRecord


@dataclass(frozen=True)
class SourceSummary:
    """A source with what it currently says: how many records, how many of them missing since a snapshot."""

    source: Source
    records: int
    missing: int


def get_source_summaries(session: Session) -> list[SourceSummary]:
    counts = dict(
        (source_id, (records, missing))
        for source_id, records, missing in session.execute(
            select(
                SourceRecord.source_id,
                func.count(),
                func.sum(case((SourceRecord.missing_since.is_not(None), 1), else_=0)),
            ).group_by(SourceRecord.source_id)
        )
    )
    sources = session.scalars(select(Source).order_by(Source.precedence.desc(), Source.id)).all()
    return [SourceSummary(source, *(int(n or 0) for n in counts.get(source.id, (0, 0)))) for source in sources]


def find_source(session: Session, name: str) -> Source | None:
    return session.scalars(select(Source).where(Source.name == name.strip().lower())).first()


def check_source_name(name: str) -> str:
    """The name, lowercase; raises `ValueError` unless it is a short slug (it appears in URLs)."""
    cleaned = name.strip().lower()
    if not SOURCE_NAME_PATTERN.match(cleaned):
        raise ValueError("a source name is 1 to 40 lowercase letters, digits, - or _, starting with a letter or digit")
    return cleaned


@dataclass(frozen=True)
class FieldProvenance:
    """Where a visible value comes from: the winning source, the run that last changed its statement, and
    when that source last confirmed it (and whether a snapshot of it no longer mentions the object)."""

    source: str
    run_id: int | None
    confirmed_at: datetime
    missing_since: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "run": self.run_id,
            "confirmed_at": self.confirmed_at.isoformat(),
            "missing_since": self.missing_since.isoformat() if self.missing_since else None,
        }


def get_provenance(session: Session, object_type: str, natural_key: str) -> dict[str, FieldProvenance]:
    """For each field some source states about one object, where its shown value comes from."""
    rows = session.execute(
        select(SourceRecord, Source)
        .join(SourceRecord.source)
        .where(SourceRecord.object_type == object_type, SourceRecord.natural_key == natural_key)
    ).all()
    return provenance_from([(record, source) for record, source in rows], object_type, natural_key)


def provenance_from(
    rows: list[tuple[SourceRecord, Source]], object_type: str, natural_key: str
) -> dict[str, FieldProvenance]:
    """The winning source of each field of one object, among `rows` (records of any objects), by the
    merge's own rule (`Source.rank_for`). Fields no source states are absent: they were entered directly."""
    winners: dict[str, tuple[tuple[int, int], FieldProvenance]] = {}
    for record, source in rows:
        if record.object_type != object_type or record.natural_key != natural_key:
            continue
        for field in record.payload:
            rank = source.rank_for(object_type, field)
            if field not in winners or rank < winners[field][0]:
                provenance = FieldProvenance(
                    source.name, record.field_runs.get(field), record.last_confirmed_at, record.missing_since
                )
                winners[field] = (rank, provenance)
    return {field: provenance for field, (_, provenance) in winners.items()}


def select_records_of(application: str) -> Select[SourceRecord, Source]:
    """Every source record about an application and what belongs to it, by source then object."""
    return (
        select(SourceRecord, Source)
        .join(SourceRecord.source)
        .where(_belongs_to(application))
        .order_by(Source.precedence.desc(), Source.name, SourceRecord.object_type, SourceRecord.natural_key)
    )


def get_records_of(session: Session, application: str) -> list[tuple[SourceRecord, Source]]:
    return [(record, source) for record, source in session.execute(select_records_of(application)).all()]


def _belongs_to(application: str) -> ColumnElement[bool]:
    """Records of the application and of what it owns, whose keys start with its trigram and the separator.
    Keys compare byte by byte, so that prefix is a range of the unique index (object type, key)."""
    owned = [object_type for object_type in APPLICATION_OWNED if object_type != "application"]
    prefix = application + KEY_SEPARATOR
    after_prefix = application + chr(ord(KEY_SEPARATOR) + 1)
    return or_(
        and_(SourceRecord.object_type == "application", SourceRecord.natural_key == application),
        and_(
            SourceRecord.object_type.in_(owned),
            SourceRecord.natural_key >= prefix,
            SourceRecord.natural_key < after_prefix,
        ),
    )
