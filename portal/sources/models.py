"""Sources of data and what each of them said about each object (source records)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint, func, or_, select
from sqlalchemy.orm import Mapped, column_property, foreign, mapped_column, relationship

from portal.core.models import Base, NaturalKey, TimestampMixin, UTCDateTime, enum_check, utcnow

SOURCE_KINDS = ("excel", "push", "api", "manual")
# Portal edits by editors (and values a steward pins) are statements of this source.
MANUAL_SOURCE = "manual"
DEFAULT_PRECEDENCE = 50
MANUAL_PRECEDENCE = 100
SOURCE_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class Source(TimestampMixin, Base):
    """Where data comes from: a workbook kept by stewards, a NiFi flow, an external API, or the portal.

    For every field of every object, the source with the highest precedence that states a value wins.
    `field_precedence` overrides the default per field, keyed `<object type>.<field>` (for example
    `{"application.status": 90}`); `configuration` holds what a pull source needs (URL, mapping...).
    """

    __tablename__ = "source"
    __table_args__ = (CheckConstraint(enum_check("kind", SOURCE_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(Text)
    precedence: Mapped[int] = mapped_column(default=DEFAULT_PRECEDENCE)
    field_precedence: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    configuration: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def precedence_of(self, object_type: str, field: str) -> int:
        """This source's precedence for one field: its per-field override, else its default."""
        return self.field_precedence.get(f"{object_type}.{field}", self.precedence)

    def rank_for(self, object_type: str, field: str) -> tuple[int, int]:
        """Sorts the sources stating one field, winner first: the highest precedence, then the source
        registered first. The merge decides with it, and provenance explains with it."""
        return (-self.precedence_of(object_type, field), self.id)

    def __repr__(self) -> str:
        return f"<Source {self.name} ({self.kind})>"


class SourceConfirmation(Base):
    """A run of `source` stated every record of `object_type` it had (none missing): all were confirmed then.

    Confirming a whole referential record by record rewrote hundreds of thousands of rows on every
    unchanged re-import; one row here says the same. A record's last confirmation is the later of its
    own `last_seen_at` and this, when the record existed and was not missing at that moment
    (`SourceRecord.last_confirmed_at`). Only the latest confirmation per source and type is kept.
    """

    __tablename__ = "source_confirmation"
    __table_args__ = (UniqueConstraint("source_id", "object_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(20))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id", ondelete="SET NULL"), index=True)


class SourceRecord(Base):
    """What one source says about one object: the field values it states, and when it last said so.

    `natural_key` is the object's business key (`BCA`, `BCA|jdoe|owner`...): the records of what an
    application owns start with its trigram, and the unique index finds them by that prefix.
    `payload` holds only the fields the source states (an empty value is not a statement);
    `field_runs` says which import run last changed each of them. A snapshot that no longer mentions
    the object sets `missing_since`; nothing is ever deleted because a source stopped mentioning it.

    A first import writes one record per object, so each index and key costs it dearly: the one unique
    index, with the object first, serves the lookups of an object's records across sources, those of
    one source's record and those of an application's records. `source_id` has no foreign key (sources
    are never deleted; checking it cost an S import about 1.5 s), like `last_run_id`.
    """

    __tablename__ = "source_record"
    __table_args__ = (UniqueConstraint("object_type", "natural_key", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column()
    object_type: Mapped[str] = mapped_column(String(20))
    natural_key: Mapped[str] = mapped_column(NaturalKey)
    payload: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    field_runs: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The run that last changed the record; like the run ids of `field_runs`, not a foreign key (runs are
    # never deleted, and checking it on every row cost an S import about 2 s).
    last_run_id: Mapped[int | None] = mapped_column()
    missing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Digest of the statement last applied, as the source sent it: the same statement again is skipped.
    fingerprint: Mapped[str | None] = mapped_column(String(32))

    source: Mapped[Source] = relationship(primaryjoin=lambda: foreign(SourceRecord.source_id) == Source.id)

    # When the source last stated this record: its own `last_seen_at`, or a later confirmation of every
    # record of its type (`SourceConfirmation`) made while it existed and was not missing.
    last_confirmed_at: Mapped[datetime] = column_property(
        func.coalesce(
            select(SourceConfirmation.confirmed_at)
            .where(
                SourceConfirmation.source_id == source_id,
                SourceConfirmation.object_type == object_type,
                SourceConfirmation.confirmed_at > last_seen_at,
                SourceConfirmation.confirmed_at >= first_seen_at,
                or_(missing_since.is_(None), missing_since > SourceConfirmation.confirmed_at),
            )
            .correlate_except(SourceConfirmation)
            .scalar_subquery(),
            last_seen_at,
        ).label("last_confirmed_at")
    )
