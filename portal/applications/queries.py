"""Finding applications: the filters shared by the API and the pages, detail, suggestions.

Ranked search over these filters lives in `portal.applications.search`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload
from werkzeug.datastructures import MultiDict

from portal.applications.models import APPLICATION_STATUSES, Application, normalize_trigram
from portal.core.api import choice, search_text
from portal.core.errors import ApiError
from portal.core.text import like_prefix
from portal.entities.models import Entity
from portal.entities.queries import get_ancestors, select_subtree_ids
from portal.environments.models import ENVIRONMENT_KINDS, Environment
from portal.interfaces.models import Interface
from portal.people.models import STAKEHOLDER_ROLES, Person, Stakeholder, normalize_login
from portal.search.text import within_one_edit

SORTS = ("relevance", "trigram", "-trigram", "name", "-name", "updated", "-updated")


@dataclass(frozen=True)
class ApplicationFilters:
    """Search text and filters, parsed from query arguments whose names are already lowercase.

    `trigram` matches trigrams starting with it (`Trigram=Bca` finds BCA and BCA2), `entity` includes
    the entity's whole subtree, `person` and `role` combine (this person in one of these roles).
    """

    PARAMETERS = ("q", "trigram", "status", "entity", "environment", "person", "role", "sort")

    q: str = ""
    trigram: str | None = None
    status: tuple[str, ...] = ()
    entity: str | None = None
    environment: tuple[str, ...] = ()
    person: str | None = None
    role: tuple[str, ...] = ()
    sort: str = ""

    @classmethod
    def from_args(cls, args: MultiDict[str, str], max_query_length: int = 200) -> ApplicationFilters:
        """Raises `ApiError` (400) for a value outside an enumeration or a query that is too long."""
        q = search_text(args, max_query_length)
        sort = (args.get("sort") or "").strip().lower()
        if sort and sort not in SORTS:
            raise ApiError(400, f"Unknown sort {sort[:40]!r}. Allowed values: {', '.join(SORTS)}.", allowed=list(SORTS))
        # The limit is on what was sent: uppercasing may lengthen it (`ß` becomes `SS`).
        raw_trigram = (args.get("trigram") or "").strip()
        if len(raw_trigram) > 7:
            raise ApiError(400, f"trigram must be at most 7 characters, got {len(raw_trigram)}.")
        trigram = normalize_trigram(raw_trigram) or None
        return cls(
            q=q,
            trigram=trigram,
            status=tuple(choice(args, "status", APPLICATION_STATUSES)),
            entity=(args.get("entity") or "").strip().upper() or None,
            environment=tuple(choice(args, "environment", ENVIRONMENT_KINDS)),
            person=normalize_login(args.get("person") or "") or None,
            role=tuple(choice(args, "role", STAKEHOLDER_ROLES)),
            sort=sort,
        )

    @property
    def effective_sort(self) -> str:
        return self.sort or ("relevance" if self.q else "trigram")


@dataclass(frozen=True)
class FilterShape:
    """Which filters are set, without their values: statements are built (and cached) per shape, and the
    values travel as the bind parameters `filter_parameters` gives."""

    trigram: bool = False
    status: bool = False
    entity: bool = False
    environment: bool = False
    person: bool = False
    role: bool = False
    sort: str = "trigram"

    @classmethod
    def of(cls, filters: ApplicationFilters) -> FilterShape:
        return cls(
            trigram=bool(filters.trigram),
            status=bool(filters.status),
            entity=bool(filters.entity),
            environment=bool(filters.environment),
            person=bool(filters.person),
            role=bool(filters.role),
            sort=filters.effective_sort,
        )


def filter_parameters(filters: ApplicationFilters) -> dict[str, Any]:
    return {
        "filter_trigram": like_prefix(filters.trigram or ""),
        "filter_status": list(filters.status),
        "filter_entity": filters.entity or "",
        "filter_environment": list(filters.environment),
        "filter_person": filters.person or "",
        "filter_role": list(filters.role),
    }


def filter_conditions(shape: FilterShape) -> list[ColumnElement[bool]]:
    """WHERE conditions on `Application` for every filter that `shape` says is set, except the text."""
    conditions: list[ColumnElement[bool]] = []
    if shape.trigram:
        conditions.append(Application.trigram.like(bindparam("filter_trigram"), escape="\\"))
    if shape.status:
        conditions.append(Application.status.in_(bindparam("filter_status", expanding=True)))
    if shape.entity:
        conditions.append(Application.entity_id.in_(select_subtree_ids(bindparam("filter_entity"))))
    if shape.environment:
        kinds = Environment.kind.in_(bindparam("filter_environment", expanding=True))
        conditions.append(exists().where(Environment.application_id == Application.id, kinds))
    if shape.person or shape.role:
        stakeholder = [Stakeholder.application_id == Application.id]
        if shape.person:
            person = select(Person.id).where(Person.login == bindparam("filter_person"))
            stakeholder.append(Stakeholder.person_id.in_(person))
        if shape.role:
            stakeholder.append(Stakeholder.role.in_(bindparam("filter_role", expanding=True)))
        conditions.append(exists().where(*stakeholder))
    return conditions


def sort_order(sort: str, score: ColumnElement[Any] | None) -> list[Any]:
    """ORDER BY terms for a sort (`ApplicationFilters.effective_sort`); `score` orders by relevance."""
    if sort == "relevance" and score is not None:
        return [score.desc(), Application.trigram]
    # Names sort as people read them: ignoring case and accents.
    name = func.referentiel_unaccent(func.lower(Application.name))
    column = {"name": name, "updated": Application.updated_at}.get(sort.lstrip("-"), Application.trigram)
    return [column.desc() if sort.startswith("-") else column.asc(), Application.trigram]


def find_application(session: Session, trigram: str) -> Application | None:
    """The application with this trigram (any case), with everything its detail page shows loaded."""
    return session.scalars(
        select(Application)
        .where(Application.trigram == normalize_trigram(trigram))
        .options(
            selectinload(Application.entity),
            selectinload(Application.stakeholders).selectinload(Stakeholder.person),
            selectinload(Application.environments).selectinload(Environment.components),
        )
    ).first()


def select_interfaces_of(application_id: int) -> Select:
    """Interfaces in and out of an application, with both ends loaded."""
    return (
        select(Interface)
        .where(
            or_(Interface.source_application_id == application_id, Interface.target_application_id == application_id)
        )
        .options(selectinload(Interface.source), selectinload(Interface.target))
        .order_by(Interface.id)
    )


def select_ancestor_ids(entity_id: int) -> Select:
    """Ids of the entity `entity_id` and of every entity above it, up to the root (a recursive CTE, both
    engines; UNION rather than UNION ALL so that a cycle in the tree ends the walk instead of looping)."""
    tree = select(Entity.id, Entity.parent_id).where(Entity.id == entity_id).cte("ancestors", recursive=True)
    parent = aliased(Entity)
    tree = tree.union(select(parent.id, parent.parent_id).join(tree, parent.id == tree.c.parent_id))
    return select(tree.c.id)


def get_entity_path(session: Session, entity: Entity) -> list[Entity]:
    """The entity's ancestors, from the root down to its parent, loaded in one statement: walking
    `Entity.parent` afterwards finds each of them in the session instead of querying level by level."""
    if entity.parent_id is not None:
        session.scalars(select(Entity).where(Entity.id.in_(select_ancestor_ids(entity.parent_id)))).all()
    return get_ancestors(entity)


def suggest_trigrams(session: Session, trigram: str, limit: int = 5) -> list[str]:
    """Existing trigrams one typo away from `trigram`, or starting like it: the "did you mean" list."""
    wanted = normalize_trigram(trigram)[:7]
    if not wanted:
        return []
    patterns = [like_prefix(wanted[:2])] + [wanted[:index] + "_" + wanted[index + 1 :] for index in range(len(wanted))]
    candidates = session.scalars(
        select(Application.trigram)
        .where(or_(*(Application.trigram.like(pattern, escape="\\") for pattern in patterns)))
        .order_by(Application.trigram)
        .limit(500)
    ).all()
    close = [candidate for candidate in candidates if within_one_edit(wanted, candidate)]
    starting = [candidate for candidate in candidates if candidate.startswith(wanted[:2]) and candidate not in close]
    return (close + starting)[:limit]


# The export streams flat rows (no ORM objects, nothing kept in the identity map), one chunk of
# applications at a time; their stakeholders and environments are fetched per chunk, for the ids in
# the bind parameter `application_ids`.


def _application_rows() -> Select:
    return select(
        Application.id,
        Application.trigram,
        Application.name,
        Application.description,
        Application.status,
        Application.criticality,
        Entity.code.label("entity_code"),
        Application.go_live_date,
        Application.end_of_support_date,
        Application.decommission_date,
        Application.tags,
        Application.documentation_url,
    ).outerjoin(Entity, Entity.id == Application.entity_id)


def select_application_rows(shape: FilterShape) -> Select:
    """Every application the filters of `shape` let through (values from `filter_parameters`), in the
    order of `shape.sort` (the listing's order), as flat rows: the workbook's columns, the entity code
    and the id."""
    return _application_rows().where(*filter_conditions(shape)).order_by(*sort_order(shape.sort, None))


def select_application_rows_by_trigram() -> Select:
    """The same rows as `select_application_rows` for the trigrams in the bind parameter `trigrams`,
    in no particular order."""
    return _application_rows().where(Application.trigram.in_(bindparam("trigrams", expanding=True)))


def select_stakeholder_rows() -> Select:
    """(application id, trigram, login, role, name, email) of the applications in `application_ids`,
    per application by role (in `STAKEHOLDER_ROLES` order), then in the order they were added."""
    role_order = case({role: index for index, role in enumerate(STAKEHOLDER_ROLES)}, value=Stakeholder.role)
    return (
        select(
            Stakeholder.application_id,
            Application.trigram,
            Person.login,
            Stakeholder.role,
            Person.display_name,
            Person.email,
        )
        .join(Person, Person.id == Stakeholder.person_id)
        .join(Application, Application.id == Stakeholder.application_id)
        .where(Stakeholder.application_id.in_(bindparam("application_ids", expanding=True)))
        .order_by(Stakeholder.application_id, role_order, Stakeholder.id)
    )


def select_environment_rows() -> Select:
    """(application id, trigram, kind, name, URL, status) of the environments of the applications in
    `application_ids`, per application by kind (in `ENVIRONMENT_KINDS` order), then by name."""
    kind_order = case({kind: index for index, kind in enumerate(ENVIRONMENT_KINDS)}, value=Environment.kind)
    return (
        select(
            Environment.application_id,
            Application.trigram,
            Environment.kind,
            Environment.name,
            Environment.url,
            Environment.status,
        )
        .join(Application, Application.id == Environment.application_id)
        .where(Environment.application_id.in_(bindparam("application_ids", expanding=True)))
        .order_by(Environment.application_id, kind_order, Environment.name)
    )
