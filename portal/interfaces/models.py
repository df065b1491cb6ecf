"""Interfaces: data flowing from one application to another."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.applications.models import Application
from portal.core.models import Base, TimestampMixin


class Interface(TimestampMixin, Base):
    """A flow from `source` to `target` over `protocol`; one per (source, target, protocol)."""

    __tablename__ = "interface"
    __table_args__ = (
        UniqueConstraint("source_application_id", "target_application_id", "protocol"),
        CheckConstraint("source_application_id <> target_application_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"))
    target_application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(40))
    frequency: Mapped[str | None] = mapped_column(String(40))
    middleware: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)

    source: Mapped[Application] = relationship(foreign_keys=[source_application_id])
    target: Mapped[Application] = relationship(foreign_keys=[target_application_id])
