"""The audit log: one append-only row per change to a visible value."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from portal.core.models import Base, NaturalKey, TrigramKey, UTCDateTime, enum_check, utcnow
from portal.sources.models import Source

# create: a new object (new_value holds its fields as JSON); update: one field changed;
# missing / present: a snapshot stopped (or started again) mentioning the object;
# resolve: a steward resolved a conflict on `field`.
OPERATIONS = ("create", "update", "missing", "present", "resolve")


class Change(Base):
    """Who changed which value of which object, when, and through which source and import run.

    Rows are only ever inserted: a database trigger refuses UPDATE and DELETE (see the migration).
    `actor` is a readable copy of who acted (a login, or `token <id>` for an API token), kept even if
    the account is later removed. The ids of the user, token, source and run are what they were when
    the change was made, without foreign keys: history outlives what it names (a key's ON DELETE could
    not touch these rows anyway), and checking four keys per row cost an S import about 4 s.

    A first import writes one row per object, and each index entry costs it (about 0.4 s per index for
    the 283k rows of 20,000 applications, on PostgreSQL). Rows are only ever appended, in time order,
    so the time and the run are indexed by block ranges (BRIN: a few bytes per megabyte of rows) rather
    than row by row. Keys are indexed only for the objects no application owns (entities, people): the
    others are found through their application, the first part of their key (`queries.select_changes`;
    every writer sets `application` from the key, as `imports.schema.owning_application` does).
    """

    __tablename__ = "change"
    __table_args__ = (
        CheckConstraint(enum_check("operation", OPERATIONS), name="operation"),
        Index("ix_change_application_at", "application", "at"),
        Index(
            "ix_change_object_type_natural_key",
            "object_type",
            "natural_key",
            postgresql_where=text("application IS NULL"),
            sqlite_where=text("application IS NULL"),
        ),
        Index("ix_change_at", "at", postgresql_using="brin", postgresql_with={"autosummarize": "on"}),
        Index("ix_change_run_id", "run_id", postgresql_using="brin", postgresql_with={"autosummarize": "on"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column()
    token_id: Mapped[int | None] = mapped_column()
    source_id: Mapped[int | None] = mapped_column(index=True)
    run_id: Mapped[int | None] = mapped_column()
    object_type: Mapped[str] = mapped_column(String(20))
    natural_key: Mapped[str] = mapped_column(NaturalKey)
    application: Mapped[str | None] = mapped_column(TrigramKey)
    field: Mapped[str | None] = mapped_column(String(40))
    operation: Mapped[str] = mapped_column(String(10))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    source: Mapped[Source | None] = relationship(primaryjoin=lambda: foreign(Change.source_id) == Source.id)
