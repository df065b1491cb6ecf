"""The global search: one query, answers grouped by type (applications, people, entities, components)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.applications.queries import ApplicationFilters
from portal.applications.search import search_applications
from portal.core.pagination import PageRequest
from portal.core.text import contains_pattern, folded
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.people.models import Person
from portal.search.text import fold


def search_everything(session: Session, q: str, limit: int, exact_count_limit: int) -> dict[str, Any]:
    """Up to `limit` hits of each type, with each group's total (estimated above `exact_count_limit`)."""
    applications = search_applications(session, ApplicationFilters(q=q), PageRequest(1, limit), exact_count_limit)
    for result in applications.results:
        result.pop("score", None)
    pattern = contains_pattern(fold(q))
    people = (
        select(Person.login, Person.display_name.label("name"), Person.email)
        .where(or_(folded(Person.display_name).like(pattern, escape="\\"), Person.login.like(pattern, escape="\\")))
        .order_by(Person.display_name)
    )
    entities = (
        select(Entity.code, Entity.name, Entity.kind)
        .where(or_(folded(Entity.name).like(pattern, escape="\\"), func.lower(Entity.code).like(pattern, escape="\\")))
        .order_by(Entity.code)
    )
    components = (
        select(
            Component.name,
            Component.kind,
            Environment.kind.label("environment"),
            Application.trigram.label("application"),
        )
        .join(Environment, Environment.id == Component.environment_id)
        .join(Application, Application.id == Environment.application_id)
        .where(func.lower(Component.name).like(pattern, escape="\\"))
        .order_by(Component.name, Application.trigram)
    )
    groups: dict[str, Any] = {
        "applications": {
            "count": applications.count,
            "count_is_estimate": applications.count_is_estimate,
            "results": applications.results,
        }
    }
    for name, statement in (("people", people), ("entities", entities), ("components", components)):
        rows = [dict(row._mapping) for row in session.execute(statement.limit(limit))]
        if len(rows) < limit:
            count, estimated = len(rows), False
        else:
            capped = session.execute(
                select(func.count()).select_from(statement.order_by(None).limit(exact_count_limit + 1).subquery())
            ).scalar_one()
            count, estimated = capped, capped > exact_count_limit
        groups[name] = {"count": count, "count_is_estimate": estimated, "results": rows}
    return groups
