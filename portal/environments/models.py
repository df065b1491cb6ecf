"""Environments of an application and the components (servers, databases, URLs...) they are made of."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.models import Base, TimestampMixin, enum_check

if TYPE_CHECKING:
    from portal.applications.models import Application

ENVIRONMENT_KINDS = ("dev", "uat", "preprod", "prod", "dr")
ENVIRONMENT_STATUSES = ("planned", "active", "retired")
COMPONENT_KINDS = ("server", "database", "namespace", "url", "queue", "other")


class Environment(TimestampMixin, Base):
    """One environment (dev, uat, preprod, prod, dr) of an application, named uniquely within it."""

    __tablename__ = "environment"
    __table_args__ = (
        UniqueConstraint("application_id", "name"),
        # Facet counts and the environment filter read (application, kind) alone.
        Index("ix_environment_application_id_kind", "application_id", "kind"),
        CheckConstraint(enum_check("kind", ENVIRONMENT_KINDS), name="kind"),
        CheckConstraint(enum_check("status", ENVIRONMENT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(10), default="active")

    application: Mapped[Application] = relationship(back_populates="environments")
    components: Mapped[list[Component]] = relationship(
        back_populates="environment", cascade="all, delete-orphan", passive_deletes=True, order_by="Component.id"
    )


class Component(Base):
    """A part of an environment: a server (hostname), database schema, namespace, URL, queue...

    `attributes` holds free details (IP, version, port) that differ from one kind to another.
    """

    __tablename__ = "component"
    __table_args__ = (
        UniqueConstraint("environment_id", "kind", "name"),
        CheckConstraint(enum_check("kind", COMPONENT_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environment.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255))  # indexed as lower(name): see the migrations
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    environment: Mapped[Environment] = relationship(back_populates="components")
