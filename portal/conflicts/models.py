"""Conflicts: two sources state different values for one field of one object."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.models import Base, NaturalKey, UTCDateTime, enum_check, utcnow

CONFLICT_STATUSES = ("open", "resolved")
# kept: the winner stays; chose: a losing source's value was pinned as a manual value;
# pinned: a new manual value; agreed: the sources came to agree by themselves.
RESOLUTIONS = ("kept", "chose", "pinned", "agreed")


class Conflict(Base):
    """Sources disagree on `field` of one object; the winner is shown until a steward resolves it.

    `candidates` lists every source's value (`[{"source": name, "value": ..., "precedence": n}]`,
    winner first). `fingerprint` identifies that set of values: a resolved conflict stays resolved
    while the sources keep saying the same things, and a new conflict opens when one of them changes.
    """

    __tablename__ = "conflict"
    __table_args__ = (
        CheckConstraint(enum_check("status", CONFLICT_STATUSES), name="status"),
        CheckConstraint(enum_check("resolution", RESOLUTIONS), name="resolution"),
        Index("ix_conflict_object_type_natural_key_field", "object_type", "natural_key", "field"),
        Index("ix_conflict_status_opened_at", "status", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(20))
    natural_key: Mapped[str] = mapped_column(NaturalKey)
    application: Mapped[str | None] = mapped_column(String(7), index=True)
    field: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="open")
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    winning_source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(String(10))
    resolution_value: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
