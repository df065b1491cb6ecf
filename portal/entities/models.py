"""Organisation units: a tree of groups, divisions, departments and teams."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.models import Base, TimestampMixin, enum_check

ENTITY_KINDS = ("group", "division", "department", "team")


class Entity(TimestampMixin, Base):
    """An organisation unit (e.g. `DSI-ETU`), placed in a tree by `parent`.

    A parent cannot be deleted while it has children or applications (ON DELETE RESTRICT): reorganising
    the tree is a deliberate act, never a side effect.
    """

    __tablename__ = "entity"
    __table_args__ = (CheckConstraint(enum_check("kind", ENTITY_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("entity.id", ondelete="RESTRICT"), index=True)

    parent: Mapped[Entity | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Entity]] = relationship(back_populates="parent", order_by="Entity.code")

    def __repr__(self) -> str:
        return f"<Entity {self.code}>"
