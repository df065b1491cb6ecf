"""People and the roles they hold on applications."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.models import Base, TimestampMixin, enum_check
from portal.entities.models import Entity

if TYPE_CHECKING:
    from portal.applications.models import Application

STAKEHOLDER_ROLES = ("owner", "it_owner", "business_owner", "tech_lead", "support", "security")
# How the pages name each role.
ROLE_LABELS = {
    "owner": "Owner",
    "it_owner": "IT owner",
    "business_owner": "Business owner",
    "tech_lead": "Tech lead",
    "support": "Support",
    "security": "Security",
}


def normalize_login(value: str) -> str:
    """Logins are stored lowercase and matched case-insensitively."""
    return value.strip().lower()


class Person(TimestampMixin, Base):
    """Someone who holds a role on an application, identified by their `login`."""

    __tablename__ = "person"
    __table_args__ = (CheckConstraint("login = lower(login)", name="login_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entity.id", ondelete="SET NULL"), index=True)

    entity: Mapped[Entity | None] = relationship()
    roles: Mapped[list[Stakeholder]] = relationship(back_populates="person", passive_deletes=True)

    def __repr__(self) -> str:
        return f"<Person {self.login}>"


class Stakeholder(Base):
    """A (application, person, role) triple: `person` is the `role` of `application`."""

    __tablename__ = "stakeholder"
    __table_args__ = (
        UniqueConstraint("application_id", "person_id", "role"),
        CheckConstraint(enum_check("role", STAKEHOLDER_ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))

    application: Mapped[Application] = relationship(back_populates="stakeholders")
    person: Mapped[Person] = relationship(back_populates="roles")
