"""Finding people and the roles they hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.datastructures import MultiDict

from portal.applications.models import Application
from portal.core.api import choice
from portal.entities.models import Entity
from portal.entities.queries import select_subtree_ids
from portal.people.models import STAKEHOLDER_ROLES, Person, Stakeholder, normalize_login
from portal.search.text import fold


def folded(column: Any) -> Any:
    """`column` lowercased and without accents, on either engine (see `extensions.referentiel_unaccent`)."""
    return func.referentiel_unaccent(func.lower(column))


@dataclass(frozen=True)
class PersonFilters:
    """`q` matches name, login or email ignoring case and accents; `entity` includes its subtree;
    `role` keeps people holding that role on at least one application."""

    PARAMETERS = ("q", "entity", "role")

    q: str = ""
    entity: str | None = None
    role: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> PersonFilters:
        return cls(
            q=(args.get("q") or "").strip()[:200],
            entity=(args.get("entity") or "").strip().upper() or None,
            role=tuple(choice(args, "role", STAKEHOLDER_ROLES)),
        )


def select_people(filters: PersonFilters) -> Select:
    statement = select(Person).options(selectinload(Person.entity)).order_by(Person.display_name, Person.login)
    if filters.q:
        pattern = "%" + fold(filters.q).replace("%", "").replace("_", "") + "%"
        statement = statement.where(
            or_(
                folded(Person.display_name).like(pattern),
                Person.login.like(pattern),
                func.lower(Person.email).like(pattern),
            )
        )
    if filters.entity:
        statement = statement.where(Person.entity_id.in_(select_subtree_ids(filters.entity)))
    if filters.role:
        statement = statement.where(
            Person.id.in_(select(Stakeholder.person_id).where(Stakeholder.role.in_(filters.role)))
        )
    return statement


def find_person(session: Session, login: str) -> Person | None:
    return session.scalars(
        select(Person).where(Person.login == normalize_login(login)).options(selectinload(Person.entity))
    ).first()


def select_roles_of(person_id: int) -> Select:
    """(role, application, entity) rows of one person, by application trigram."""
    return (
        select(Stakeholder.role, Application, Entity)
        .join(Application, Application.id == Stakeholder.application_id)
        .outerjoin(Entity, Entity.id == Application.entity_id)
        .where(Stakeholder.person_id == person_id)
        .order_by(Application.trigram, Stakeholder.role)
    )
