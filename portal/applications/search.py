"""Ranked search over applications: the part both engines share.

A search gathers candidates from several "arms" (words in the trigram and name, words anywhere,
trigrams starting with the query, hostnames and URLs containing it), each restricted by the filters
and capped, then scores them by tier, sorts, pages and summarises them, all in one SQL statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import (
    Float,
    Integer,
    Select,
    Subquery,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.applications.queries import (
    ApplicationFilters,
    FilterShape,
    filter_conditions,
    filter_parameters,
    sort_order,
)
from portal.core.metrics import timed_search
from portal.core.pagination import PageRequest
from portal.core.text import folded, like_prefix
from portal.entities.models import Entity
from portal.entities.queries import select_subtree_ids_of
from portal.environments.models import Component, Environment
from portal.people.models import Person, Stakeholder
from portal.search.backends import CAP, SearchBackend, backend_for, no_rank
from portal.search.models import SearchDocument
from portal.search.query import ParsedQuery
from portal.search.text import fold, highlight
from portal.search.typos import with_typo_alternatives

# Ranking tiers: an exact trigram beats everything, then trigrams starting with the query, then
# hostnames and URLs containing it; word relevance (below 10) orders hits within a tier.
EXACT_TRIGRAM_SCORE = 1000
TRIGRAM_PREFIX_SCORE = 100
HOST_FRAGMENT_SCORE = 20
# The query is exactly an entity's name or code: its applications come right after trigram matches.
NAMED_ENTITY_SCORE = 30
SEARCHED_FIELDS = ("trigram", "name", "people", "hosts", "entities", "description")


@dataclass(frozen=True)
class TextPlan:
    """What a search text means, whatever the filters: the query with its typo alternatives, and the
    entities and components it names exactly. Worked out once per request (it takes a few look-ups)
    and shared by the search and its facet counts."""

    query: ParsedQuery
    entity_ids: tuple[int, ...]
    component_ids: tuple[int, ...]


@dataclass
class ApplicationPage:
    """One page of applications, each a summary dict, with the (possibly estimated) total."""

    results: list[dict[str, Any]]
    count: int
    count_is_estimate: bool
    # The text search's plan, for the facets of the same search (None for a listing).
    text: TextPlan | None = None


@dataclass(frozen=True)
class SearchShape:
    """What a search statement depends on, values aside: statements are built once per shape."""

    dialect: str
    filters: FilterShape
    words: bool = False
    words_anywhere: bool = False
    phrase: bool = False
    trigram: bool = False
    trigram_prefix: bool = False
    host: bool = False
    entities: bool = False
    components: bool = False


@timed_search
def search_applications(
    session: Session, filters: ApplicationFilters, page: PageRequest, exact_count_limit: int = 500
) -> ApplicationPage:
    """Ranked search when `filters.q` is set, a filtered listing otherwise.

    Counts up to `exact_count_limit` are exact; above it they are estimated and flagged. The same limit
    caps how many matches of each arm are ranked (see `SearchBackend`).
    """
    dialect = session.get_bind().dialect.name
    shape = FilterShape.of(filters)
    parameters = filter_parameters(filters) | {
        "cap": exact_count_limit,
        "page_size": page.size,
        "page_offset": page.offset,
    }
    if not filters.q:
        statements = _listing_statements(dialect, shape)
        return _listing(session, backend_for(dialect), statements, parameters, page, exact_count_limit)
    text = plan_text(session, filters.q, exact_count_limit)
    if text is None:
        return ApplicationPage(results=[], count=0, count_is_estimate=False)
    query = text.query
    backend = backend_for(dialect)
    search_shape, search_parameters = _plan(text, shape, dialect, backend)
    parameters |= search_parameters
    page_statement, count_statement = _search_statements(search_shape)
    rows = list(session.execute(page_statement, parameters))
    # Past the last page no row carries the window count, so count the candidates themselves.
    total = rows[0].total if rows else session.execute(count_statement, parameters).scalar_one()
    estimated = total >= exact_count_limit
    if estimated:
        allowed = _allowed(filter_conditions(shape))
        matches = backend.estimate_matches(session, query, allowed, parameters) if search_shape.words else 0
        total = round_estimate(max(total, matches))
    results = [_summary(row, query) for row in rows]
    return ApplicationPage(results=results, count=total, count_is_estimate=estimated, text=text)


def select_matching_ids(
    session: Session, filters: ApplicationFilters, exact_count_limit: int = 500, text: TextPlan | None = None
) -> tuple[Select | None, dict[str, Any]]:
    """The ids of every application the search (or listing) would return, with its bind parameters.

    A text search gives its ranked candidates (each arm capped as in `search_applications`); None when
    the text is empty of anything searchable. Facets count over these ids. `text` is the plan of
    `filters.q` when the caller has it already (from `ApplicationPage.text`).
    """
    dialect = session.get_bind().dialect.name
    shape = FilterShape.of(filters)
    parameters = filter_parameters(filters) | {"cap": exact_count_limit}
    if not filters.q:
        return _listing_statements(dialect, shape)[2], parameters
    text = text or plan_text(session, filters.q, exact_count_limit)
    if text is None:
        return None, parameters
    search_shape, search_parameters = _plan(text, shape, dialect, backend_for(dialect))
    return _candidate_ids(search_shape), parameters | search_parameters


@lru_cache(maxsize=256)
def _candidate_ids(shape: SearchShape) -> Select:
    candidates = _candidates(shape)
    return select(candidates.c.application_id)


def plan_text(session: Session, q: str, cap: int) -> TextPlan | None:
    """The plan of a search text, or None when it holds nothing searchable."""
    query = ParsedQuery.parse(q)
    if query.is_empty and not query.trigram_prefix:
        return None
    query = with_typo_alternatives(session, query)
    # A query that is exactly a hostname (or schema, namespace...) is answered by that component's
    # applications alone: matching its pieces as words or substrings would only add noise, slowly.
    components = find_named_components(session, query, cap)
    return TextPlan(query, tuple(find_named_entities(session, query)), tuple(components))


def _plan(
    text: TextPlan, filters: FilterShape, dialect: str, backend: SearchBackend
) -> tuple[SearchShape, dict[str, Any]]:
    """Which arms this text needs under these filters, and their bind parameters."""
    query, entity_ids, component_ids = text.query, list(text.entity_ids), list(text.component_ids)
    shape = SearchShape(
        dialect=dialect,
        filters=filters,
        words=bool(query.words) and not component_ids,
        # A query naming an entity exactly wants that entity's applications (and names holding the
        # words): looking for its words through every document would only add slow noise.
        words_anywhere=not entity_ids,
        phrase=bool(query.phrase),
        trigram=bool(query.trigram),
        trigram_prefix=bool(query.trigram_prefix),
        host=bool(query.host_fragment) and not component_ids,
        entities=bool(entity_ids),
        components=bool(component_ids),
    )
    parameters: dict[str, Any] = {
        "exact_trigram": query.trigram or "",
        "trigram_prefix": like_prefix(query.trigram_prefix or ""),
        "entity_ids": entity_ids,
        "component_application_ids": component_ids,
    }
    if shape.words:
        parameters |= backend.word_parameters(query)
    if shape.host:
        parameters |= backend.host_parameters(query.host_fragment or "")
    return shape, parameters


PAGE_SIZE = bindparam("page_size", type_=Integer)
PAGE_OFFSET = bindparam("page_offset", type_=Integer)


def _allowed(conditions: list[Any]) -> Select | None:
    """Ids the filter conditions let through, or None when there are none."""
    return select(Application.id).where(*conditions) if conditions else None


@lru_cache(maxsize=256)
def _search_statements(shape: SearchShape) -> tuple[Select, Select]:
    """The page statement (ranked, paged, summarised) and the candidate count of a search shape."""
    candidates = _candidates(shape)
    score = candidates.c.rank + candidates.c.bonus
    if shape.trigram:
        score = score + case((candidates.c.trigram == bindparam("exact_trigram"), EXACT_TRIGRAM_SCORE), else_=0)
    if shape.trigram_prefix:
        prefix = candidates.c.trigram.like(bindparam("trigram_prefix"), escape="\\")
        score = score + case((prefix, TRIGRAM_PREFIX_SCORE), else_=0)
    ranked = select(candidates.c.application_id, score.label("score"), func.count().over().label("total"))
    if shape.filters.sort == "relevance":
        # Ties in score go by trigram, which the candidates carry: no join needed to rank them.
        ranked = ranked.order_by(score.desc(), candidates.c.trigram)
    else:
        ranked = ranked.join(Application, Application.id == candidates.c.application_id).order_by(
            *sort_order(shape.filters.sort, score)
        )
    ranked_page = ranked.limit(PAGE_SIZE).offset(PAGE_OFFSET).subquery("ranked")
    page_statement = _summary_statement(ranked_page, sort_order(shape.filters.sort, ranked_page.c.score))
    return page_statement, select(func.count()).select_from(candidates)


def _candidates(shape: SearchShape) -> Subquery:
    """`(application_id, trigram, rank, bonus)` of every application some arm matched, best of each kept."""
    backend = backend_for(shape.dialect)
    # One set of conditions for every arm: built twice, the entity filter's CTE would clash with itself.
    conditions = filter_conditions(shape.filters)
    allowed = _allowed(conditions)
    arms: list[tuple[Select, int]] = []
    if shape.words:
        arms += [(arm, 0) for arm in backend.word_arms(allowed, shape.words_anywhere, shape.phrase)]
    if shape.trigram_prefix:
        trigram = backend.in_byte_order(Application.trigram)
        starting = trigram.like(bindparam("trigram_prefix"), escape="\\")
        arms.append((_applications_where(starting, conditions).order_by(trigram), 0))
    if shape.host:
        arms.append((backend.host_arm(allowed), HOST_FRAGMENT_SCORE))
    # Applications found beforehand (see find_named_components and find_named_entities).
    if shape.components:
        with_component = Application.id.in_(bindparam("component_application_ids", expanding=True))
        arms.append((_applications_where(with_component, conditions), HOST_FRAGMENT_SCORE))
    if shape.entities:
        in_entity = Application.entity_id.in_(bindparam("entity_ids", expanding=True))
        arms.append((_applications_where(in_entity, conditions), NAMED_ENTITY_SCORE))
    # Each arm is wrapped so that its LIMIT stays its own inside the UNION (SQLite requires it).
    wrapped = []
    for index, (arm, bonus) in enumerate(arms):
        inner = arm.subquery(f"arm_{index}")
        # Word arms bring their own bonus (the phrase); the others get their arm's.
        arm_bonus = inner.c.bonus if "bonus" in inner.c else literal(bonus).label("bonus")
        wrapped.append(select(inner.c.application_id, inner.c.trigram, inner.c.rank, arm_bonus))
    matches = union_all(*wrapped).subquery("arm_match")
    return (
        select(
            matches.c.application_id,
            matches.c.trigram,
            func.max(matches.c.rank).label("rank"),
            func.max(matches.c.bonus).label("bonus"),
        )
        .group_by(matches.c.application_id, matches.c.trigram)
        .subquery("candidate")
    )


def _applications_where(condition: Any, conditions: list[Any]) -> Select:
    return (
        select(Application.id.label("application_id"), Application.trigram, no_rank())
        .where(condition, *conditions)
        .limit(CAP)
    )


@lru_cache(maxsize=128)
def _listing_statements(dialect: str, shape: FilterShape) -> tuple[Select, Select, Select]:
    """The page statement, a count capped at `cap` + 1, and the ids of a filtered listing."""
    conditions = filter_conditions(shape)
    ordered = (
        select(Application.id.label("application_id"), cast(null(), Float).label("score"))
        .where(*conditions)
        .order_by(*sort_order(shape.sort, None))
        .limit(PAGE_SIZE)
        .offset(PAGE_OFFSET)
        .subquery("ordered")
    )
    ids = select(Application.id).where(*conditions)
    capped = select(func.count()).select_from(ids.limit(CAP + 1).subquery())
    return _summary_statement(ordered, sort_order(shape.sort, None)), capped, ids


def _listing(
    session: Session,
    backend: SearchBackend,
    statements: tuple[Select, Select, Select],
    parameters: dict[str, Any],
    page: PageRequest,
    limit: int,
) -> ApplicationPage:
    page_statement, capped_count, ids = statements
    results = [_summary(row, None) for row in session.execute(page_statement, parameters)]
    if page.offset == 0 and len(results) < page.size:
        return ApplicationPage(results, len(results), False)
    capped = session.execute(capped_count, parameters).scalar_one()
    if capped <= limit:
        return ApplicationPage(results, capped, False)
    estimate = max(backend.estimate_rows(session, ids, parameters), limit + 1)
    return ApplicationPage(results, round_estimate(estimate), True)


def find_named_entities(session: Session, query: ParsedQuery) -> list[int]:
    """Entities named exactly as the query (name or code), with every entity below them.

    Their applications are what was asked for. The ids are fetched first so that the search can use the
    index on `application.entity_id` rather than a join the planner cannot size.
    """
    text = query.raw.strip()
    if len(text) < 3:
        return []
    # Most queries name no entity: one indexed look-up says so; the subtree is walked only for a hit.
    named = list(session.scalars(_NAMED_ENTITIES, {"entity_name": fold(text), "entity_code": text.lower()}))
    return list(session.scalars(_subtree_statement(), {"root_ids": named})) if named else []


def find_named_components(session: Session, query: ParsedQuery, limit: int) -> list[int]:
    """Applications with a component named exactly as the query, ignoring case (index on lower(name))."""
    text = query.raw.strip()
    # Hostnames, schemas, namespaces and queues hold a digit or a separator (par-lx-bca-p01, BCA_PROD,
    # bca.payments.in); a plain word is not worth the look-up.
    if len(text) < 3 or " " in text or not COMPONENT_NAME_SHAPE.search(text):
        return []
    return list(session.scalars(_NAMED_COMPONENTS, {"component_name": text.lower(), "limit": limit}))


COMPONENT_NAME_SHAPE = re.compile(r"[0-9._:/-]")


_NAMED_COMPONENTS = (
    select(Environment.application_id)
    .join(Component, Component.environment_id == Environment.id)
    .where(func.lower(Component.name) == bindparam("component_name"))
    .distinct()
    .limit(bindparam("limit", type_=Integer))
)


# Both sides are indexed (ix_entity_folded_name, ix_entity_lower_code), so the OR is two index probes.
_NAMED_ENTITIES = select(Entity.id).where(
    or_(folded(Entity.name) == bindparam("entity_name"), func.lower(Entity.code) == bindparam("entity_code"))
)


@lru_cache(maxsize=1)
def _subtree_statement() -> Select:
    return select_subtree_ids_of(select(Entity.id).where(Entity.id.in_(bindparam("root_ids", expanding=True))))


def _summary_statement(page: Subquery, order: list[Any]) -> Select:
    """The page's applications, each with its entity, first owner and indexed text, in `order`."""

    def first_owner(column: Any) -> Any:
        return (
            select(column)
            .join(Stakeholder, Stakeholder.person_id == Person.id)
            .where(Stakeholder.application_id == Application.id, Stakeholder.role == "owner")
            .order_by(Stakeholder.id)
            .limit(1)
            .scalar_subquery()
        )

    return (
        select(
            *page.c,
            Application.trigram,
            Application.name,
            Application.status,
            Application.criticality,
            Application.updated_at,
            Entity.code.label("entity_code"),
            Entity.name.label("entity_name"),
            first_owner(Person.login).label("owner_login"),
            first_owner(Person.display_name).label("owner_name"),
            SearchDocument.people,
            SearchDocument.hosts,
            SearchDocument.entities,
            SearchDocument.description,
        )
        .select_from(page)
        .join(Application, Application.id == page.c.application_id)
        .outerjoin(Entity, Entity.id == Application.entity_id)
        .outerjoin(SearchDocument, SearchDocument.application_id == Application.id)
        .order_by(*order)
    )


def _summary(row: Any, query: ParsedQuery | None) -> dict[str, Any]:
    return {
        "trigram": row.trigram,
        "name": row.name,
        "status": row.status,
        "criticality": row.criticality,
        "entity": {"code": row.entity_code, "name": row.entity_name} if row.entity_code else None,
        "owner": {"login": row.owner_login, "name": row.owner_name} if row.owner_login else None,
        "updated_at": row.updated_at.isoformat(),
        "score": round(float(row.score), 4) if row.score is not None else None,
        "matches": explain_match(row, query) if query is not None else [],
    }


def round_estimate(value: int) -> int:
    """Two significant figures: 29,347 -> 29,000, as "about 29,000" reads."""
    digits = len(str(value))
    return round(value, -(digits - 2)) if digits > 2 else value


def explain_match(row: Any, query: ParsedQuery) -> list[dict[str, str]]:
    """Which fields the query matched, each with a highlighted HTML fragment."""
    pattern = query.highlight_pattern
    matches = []
    if query.trigram_prefix and row.trigram.startswith(query.trigram_prefix):
        size = len(query.trigram_prefix)
        matches.append(
            {
                "field": "trigram",
                "highlight": str(Markup("<mark>%s</mark>%s") % (row.trigram[:size], row.trigram[size:])),
            }
        )
    for name in SEARCHED_FIELDS[1:]:
        marked = highlight(getattr(row, name) or "", pattern)
        if marked is not None:
            matches.append({"field": name, "highlight": str(marked)})
    if query.host_fragment and not any(match["field"] == "hosts" for match in matches):
        hosts = row.hosts or ""
        start = hosts.lower().find(query.host_fragment)
        if start >= 0:
            matches.append({"field": "hosts", "highlight": highlight_span(hosts, start, len(query.host_fragment))})
    return matches


def highlight_span(text: str, start: int, length: int) -> str:
    """The word of `text` around `start`, with the `length` characters from there marked."""
    left = text.rfind(" ", 0, start) + 1
    right = text.find(" ", start + length)
    right = len(text) if right < 0 else right
    marked = Markup("<mark>%s</mark>") % text[start : start + length]
    return str(escape(text[left:start]) + marked + escape(text[start + length : right]))
