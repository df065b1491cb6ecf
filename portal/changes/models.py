"""The audit log: one append-only row per change to a visible value."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from portal.core.models import Base, NaturalKey, UTCDateTime, enum_check, utcnow
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
    """

    __tablename__ = "change"
    __table_args__ = (
        CheckConstraint(enum_check("operation", OPERATIONS), name="operation"),
        Index("ix_change_application_at", "application", "at"),
        Index("ix_change_object_type_natural_key", "object_type", "natural_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column()
    token_id: Mapped[int | None] = mapped_column()
    source_id: Mapped[int | None] = mapped_column(index=True)
    run_id: Mapped[int | None] = mapped_column(index=True)
    object_type: Mapped[str] = mapped_column(String(20))
    natural_key: Mapped[str] = mapped_column(NaturalKey)
    application: Mapped[str | None] = mapped_column(String(7))
    field: Mapped[str | None] = mapped_column(String(40))
    operation: Mapped[str] = mapped_column(String(10))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    source: Mapped[Source | None] = relationship(primaryjoin=lambda: foreign(Change.source_id) == Source.id)
