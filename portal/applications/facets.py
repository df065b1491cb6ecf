"""Facet counts for the search page: how many results each status, environment kind, stakeholder role
and entity would give.

Each dimension is counted with every other filter applied but not its own, so that the counts say what
ticking one more value would add (the usual "disjunctive" facets). Entities are a tree: the counts of
applications owned anywhere below each entity are rolled up, and the page shows the children of the
selected entity (or the top of the tree) with their counts. Everything is one statement per request,
plus the entity tree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from sqlalchemy import CompoundSelect, Select, String, bindparam, cast, func, literal, select, union_all
from sqlalchemy.orm import Session

from portal.applications.models import APPLICATION_STATUSES, Application
from portal.applications.queries import ApplicationFilters
from portal.applications.search import TextPlan, select_matching_ids
from portal.entities.models import Entity
from portal.environments.models import ENVIRONMENT_KINDS, Environment
from portal.people.models import ROLE_LABELS, STAKEHOLDER_ROLES, Person, Stakeholder

ENVIRONMENT_LABELS = {"dev": "Dev", "uat": "UAT", "preprod": "Pre-prod", "prod": "Prod", "dr": "DR"}


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class EntityCount:
    code: str
    name: str
    count: int


@dataclass
class Facets:
    status: list[FacetValue]
    environment: list[FacetValue]
    role: list[FacetValue]
    # The selected entity with its ancestors (a breadcrumb), then the entities to drill into.
    entity_path: list[EntityCount]
    entity_children: list[EntityCount]


def count_facets(
    session: Session,
    filters: ApplicationFilters,
    exact_count_limit: int,
    fixed: frozenset[str] = frozenset(),
    text: TextPlan | None = None,
) -> Facets:
    """The facet counts of this search; every count is 0 when the text has nothing searchable.

    Dimensions in `fixed` (the entity page's entity) are not offered, so they are not counted either.
    `text` is the search's plan of `filters.q`, when the search has run already.
    """
    # Dimensions with nothing selected count over the same results: one statement serves them all.
    groups: dict[ApplicationFilters, list[str]] = defaultdict(list)
    for dimension in (name for name in COUNTERS if name not in fixed):
        groups[replace(filters, **{dimension: EMPTY[dimension]})].append(dimension)
    counts: dict[str, dict[Any, int]] = defaultdict(dict)
    for others, dimensions in groups.items():
        ids, parameters = select_matching_ids(session, others, exact_count_limit, text)
        if ids is None:
            continue
        statement = _facet_statement(ids, tuple(dimensions), bool(filters.person))
        for dimension, value, count in session.execute(statement, parameters | {"facet_person": filters.person}):
            counts[dimension][value] = count
    return Facets(
        status=_values(APPLICATION_STATUSES, counts["status"], filters.status, {}),
        environment=_values(ENVIRONMENT_KINDS, counts["environment"], filters.environment, ENVIRONMENT_LABELS),
        role=_values(STAKEHOLDER_ROLES, counts["role"], filters.role, ROLE_LABELS),
        **(_entity_tree(session, counts["entity"], filters.entity) if "entity" not in fixed else NO_ENTITIES),
    )


EMPTY: dict[str, Any] = {"status": (), "environment": (), "role": (), "entity": None}
NO_ENTITIES: dict[str, list[EntityCount]] = {"entity_path": [], "entity_children": []}


@lru_cache(maxsize=512)
def _facet_statement(ids: Select, dimensions: tuple[str, ...], with_person: bool) -> CompoundSelect:
    """One statement counting `dimensions` over `ids`, built once per shape (`ids` are cached statements:
    building and keying a statement this size costs more than running it)."""
    # Computed once for every dimension (PostgreSQL materialises a CTE used more than once).
    matching = select(ids.cte("matching").c[0])
    return union_all(*(COUNTERS[dimension](matching, with_person, dimension) for dimension in dimensions))


def _count_statuses(ids: Select, with_person: bool, dimension: str) -> Select:
    return (
        select(literal(dimension).label("dimension"), Application.status.label("value"), func.count())
        .where(Application.id.in_(ids))
        .group_by(Application.status)
    )


def _count_environments(ids: Select, with_person: bool, dimension: str) -> Select:
    return (
        select(
            literal(dimension).label("dimension"),
            Environment.kind.label("value"),
            func.count(func.distinct(Environment.application_id)),
        )
        .where(Environment.application_id.in_(ids))
        .group_by(Environment.kind)
    )


def _count_roles(ids: Select, with_person: bool, dimension: str) -> Select:
    statement = (
        select(
            literal(dimension).label("dimension"),
            Stakeholder.role.label("value"),
            func.count(func.distinct(Stakeholder.application_id)),
        )
        .where(Stakeholder.application_id.in_(ids))
        .group_by(Stakeholder.role)
    )
    if with_person:
        # With a person chosen, the roles are theirs.
        person = select(Person.id).where(Person.login == bindparam("facet_person"))
        statement = statement.where(Stakeholder.person_id.in_(person))
    return statement


def _count_entities(ids: Select, with_person: bool, dimension: str) -> Select:
    return (
        select(literal(dimension).label("dimension"), cast(Application.entity_id, String).label("value"), func.count())
        .where(Application.id.in_(ids), Application.entity_id.is_not(None))
        .group_by(Application.entity_id)
    )


COUNTERS = {
    "status": _count_statuses,
    "environment": _count_environments,
    "role": _count_roles,
    "entity": _count_entities,
}


def _values(
    allowed: tuple[str, ...], counts: dict[Any, int], selected: tuple[str, ...], labels: dict[str, str]
) -> list[FacetValue]:
    return [
        FacetValue(value, labels.get(value, value.capitalize()), counts.get(value, 0), value in selected)
        for value in allowed
        if counts.get(value, 0) or value in selected
    ]


def _entity_tree(session: Session, direct: dict[Any, int], selected_code: str | None) -> dict[str, list[EntityCount]]:
    """Roll the counts of applications owned by each entity up to its ancestors; pick what to show."""
    entities = session.execute(select(Entity.id, Entity.parent_id, Entity.code, Entity.name)).all()
    parent = {row.id: row.parent_id for row in entities}
    totals: dict[int, int] = defaultdict(int)
    for entity_id, count in direct.items():
        node: int | None = int(entity_id)
        while node is not None:
            totals[node] += count
            node = parent.get(node)
    by_id = {row.id: row for row in entities}
    selected = next((row for row in entities if row.code == selected_code), None)
    path: list[EntityCount] = []
    node_id = selected.id if selected else None
    while node_id is not None:
        row = by_id[node_id]
        path.insert(0, EntityCount(row.code, row.name, totals.get(row.id, 0)))
        node_id = row.parent_id
    children = [
        EntityCount(row.code, row.name, totals[row.id])
        for row in entities
        if row.parent_id == (selected.id if selected else None) and totals.get(row.id)
    ]
    children.sort(key=lambda item: (-item.count, item.name))
    return {"entity_path": path, "entity_children": children}
