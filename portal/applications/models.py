"""Applications: the referential's central object, identified by its trigram."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.models import Base, TimestampMixin, enum_check
from portal.entities.models import Entity

if TYPE_CHECKING:
    from portal.environments.models import Environment
    from portal.people.models import Stakeholder

APPLICATION_STATUSES = ("plan", "build", "production", "decommissioning", "retired")
CRITICALITIES = ("critical", "high", "medium", "low")

# Three letters, then up to four letters or digits: BCA, BCA2, PAYX1.
TRIGRAM_PATTERN = re.compile(r"^[A-Z]{3}[A-Z0-9]{0,4}$")


def normalize_trigram(value: str) -> str:
    """The stored form of a trigram: stripped and uppercase (trigrams match case-insensitively)."""
    return value.strip().upper()


class Application(TimestampMixin, Base):
    """An IT application. `trigram` is its business key, stored uppercase and unique.

    Deleting an application deletes what only exists through it (stakeholder links, environments,
    interfaces); its entity cannot be deleted while it still owns applications.
    """

    __tablename__ = "application"
    __table_args__ = (
        CheckConstraint("trigram = upper(trigram) AND length(trigram) BETWEEN 3 AND 7", name="trigram_format"),
        CheckConstraint(enum_check("status", APPLICATION_STATUSES), name="status"),
        CheckConstraint(enum_check("criticality", CRITICALITIES), name="criticality"),
        Index("ix_application_updated_at", "updated_at"),  # "last updated" sort
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    trigram: Mapped[str] = mapped_column(String(7), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="production", index=True)
    criticality: Mapped[str | None] = mapped_column(String(10))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entity.id", ondelete="RESTRICT"), index=True)
    go_live_date: Mapped[date | None] = mapped_column(Date)
    end_of_support_date: Mapped[date | None] = mapped_column(Date)
    decommission_date: Mapped[date | None] = mapped_column(Date)
    # Comma-separated, as in the workbooks; `tag_list` gives them parsed.
    tags: Mapped[str | None] = mapped_column(String(500))
    documentation_url: Mapped[str | None] = mapped_column(String(500))
    repository_url: Mapped[str | None] = mapped_column(String(500))

    entity: Mapped[Entity | None] = relationship()
    stakeholders: Mapped[list[Stakeholder]] = relationship(
        back_populates="application", cascade="all, delete-orphan", passive_deletes=True
    )
    environments: Mapped[list[Environment]] = relationship(
        back_populates="application", cascade="all, delete-orphan", passive_deletes=True, order_by="Environment.id"
    )

    @property
    def tag_list(self) -> list[str]:
        return [tag.strip() for tag in (self.tags or "").split(",") if tag.strip()]

    def __repr__(self) -> str:
        return f"<Application {self.trigram}>"
