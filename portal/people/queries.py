"""Finding people and the roles they hold."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.datastructures import MultiDict

from portal.applications.models import Application
from portal.core.api import choice, search_text
from portal.core.text import contains_pattern, folded
from portal.entities.models import Entity
from portal.entities.queries import select_subtree_ids
from portal.people.models import STAKEHOLDER_ROLES, Person, Stakeholder, normalize_login
from portal.search.text import fold


@dataclass(frozen=True)
class PersonFilters:
    """`q` matches name, login or email ignoring case and accents; `entity` includes its subtree;
    `role` keeps people holding that role on at least one application."""

    PARAMETERS = ("q", "entity", "role")

    q: str = ""
    entity: str | None = None
    role: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: MultiDict[str, str], max_query_length: int = 200) -> PersonFilters:
        """Raises `ApiError` (400) for an unknown role or a query that is too long."""
        return cls(
            q=search_text(args, max_query_length),
            entity=(args.get("entity") or "").strip().upper() or None,
            role=tuple(choice(args, "role", STAKEHOLDER_ROLES)),
        )


def select_people(filters: PersonFilters) -> Select:
    statement = select(Person).options(selectinload(Person.entity)).order_by(Person.display_name, Person.login)
    if filters.q:
        pattern = contains_pattern(fold(filters.q))
        statement = statement.where(
            or_(
                folded(Person.display_name).like(pattern, escape="\\"),
                Person.login.like(pattern, escape="\\"),
                func.lower(Person.email).like(pattern, escape="\\"),
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


@dataclass(frozen=True)
class HeldApplication:
    """An application on which a person holds a role, as the person page lists it."""

    trigram: str
    name: str
    status: str
    entity_code: str | None
    entity_name: str | None


def get_roles_by_role(session: Session, person_id: int) -> dict[str, list[HeldApplication]]:
    """The applications on which the person holds each role, roles in `STAKEHOLDER_ROLES` order and only
    those held, applications by trigram: one statement (the same rows as the API's `roles`)."""
    held: dict[str, list[HeldApplication]] = {role: [] for role in STAKEHOLDER_ROLES}
    for role, application, entity in session.execute(select_roles_of(person_id)):
        held.setdefault(role, []).append(
            HeldApplication(
                application.trigram,
                application.name,
                application.status,
                entity.code if entity else None,
                entity.name if entity else None,
            )
        )
    return {role: applications for role, applications in held.items() if applications}


def suggest_people(session: Session, text: str, limit: int = 5) -> list[Person]:
    """Up to `limit` people whose name, login or email contains `text`: suggestions for an unknown login."""
    return list(session.scalars(select_people(PersonFilters(q=text.strip()[:200])).limit(limit)))
