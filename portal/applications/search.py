"""Ranked search over applications: the part both engines share.

A search gathers candidates from several "arms" (words in the trigram and name, words anywhere,
trigrams starting with the query, hostnames and URLs containing it), each restricted by the filters
and capped, then scores them by tier, sorts, pages and summarises them, all in one SQL statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Float, Select, Subquery, case, cast, func, literal, literal_column, null, or_, select, union_all
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.applications.queries import ApplicationFilters, filter_conditions, like_prefix, sort_order
from portal.core.pagination import PageRequest
from portal.core.text import folded
from portal.entities.models import Entity
from portal.entities.queries import select_subtree_ids_of
from portal.people.models import Person, Stakeholder
from portal.search.backends import get_backend
from portal.search.models import SearchDocument, SearchTermVariant
from portal.search.query import ParsedQuery
from portal.search.text import fold, highlight, variants, within_one_edit

# Ranking tiers: an exact trigram beats everything, then trigrams starting with the query, then
# hostnames and URLs containing it; word relevance (below 10) orders hits within a tier.
EXACT_TRIGRAM_SCORE = 1000
TRIGRAM_PREFIX_SCORE = 100
HOST_FRAGMENT_SCORE = 20
# The query is exactly an entity's name or code: its applications come right after trigram matches.
NAMED_ENTITY_SCORE = 30
SEARCHED_FIELDS = ("trigram", "name", "people", "hosts", "entities", "description")


@dataclass
class ApplicationPage:
    """One page of applications, each a summary dict, with the (possibly estimated) total."""

    results: list[dict[str, Any]]
    count: int
    count_is_estimate: bool
    query: ParsedQuery | None = None
    suggestions: list[str] = field(default_factory=list)


def search_applications(
    session: Session, filters: ApplicationFilters, page: PageRequest, exact_count_limit: int = 500
) -> ApplicationPage:
    """Ranked search when `filters.q` is set, a filtered listing otherwise.

    Counts up to `exact_count_limit` are exact; above it they are estimated and flagged. The same limit
    caps how many matches of each arm are ranked (see `SearchBackend`).
    """
    conditions = filter_conditions(filters)
    if not filters.q:
        return _listing(session, filters, conditions, page, exact_count_limit)
    query = ParsedQuery.parse(filters.q)
    if query.is_empty and not query.trigram_prefix:
        return ApplicationPage(results=[], count=0, count_is_estimate=False, query=query)
    query = with_typo_alternatives(session, query)
    candidates = _candidates(session, query, conditions, find_named_entities(session, query), exact_count_limit)
    if candidates is None:
        return ApplicationPage(results=[], count=0, count_is_estimate=False, query=query)

    score = candidates.c.rank + candidates.c.bonus
    if query.trigram:
        score = score + case((candidates.c.trigram == query.trigram, EXACT_TRIGRAM_SCORE), else_=0)
    if query.trigram_prefix:
        prefix = candidates.c.trigram.like(like_prefix(query.trigram_prefix), escape="\\")
        score = score + case((prefix, TRIGRAM_PREFIX_SCORE), else_=0)
    ranked = select(candidates.c.application_id, score.label("score"), func.count().over().label("total"))
    if filters.effective_sort == "relevance":
        # Ties in score go by trigram, which the candidates carry: no join needed to rank them.
        ranked = ranked.order_by(score.desc(), candidates.c.trigram)
    else:
        ranked = ranked.join(Application, Application.id == candidates.c.application_id).order_by(
            *sort_order(filters, score)
        )
    ranked_page = ranked.limit(page.size).offset(page.offset).subquery("ranked")
    rows = _summary_rows(session, ranked_page, sort_order(filters, ranked_page.c.score))
    # Past the last page no row carries the window count, so count the candidates themselves.
    total = rows[0].total if rows else session.execute(select(func.count()).select_from(candidates)).scalar_one()
    estimated = total >= exact_count_limit
    if estimated:
        allowed = select(Application.id).where(*conditions) if conditions else None
        total = round_estimate(max(total, get_backend(session).estimate_matches(session, query, allowed)))
    results = [_summary(row, query) for row in rows]
    return ApplicationPage(results=results, count=total, count_is_estimate=estimated, query=query)


def _listing(
    session: Session, filters: ApplicationFilters, conditions: list[Any], page: PageRequest, limit: int
) -> ApplicationPage:
    ordered = (
        select(Application.id.label("application_id"), cast(null(), Float).label("score"))
        .where(*conditions)
        .order_by(*sort_order(filters, None))
        .limit(page.size)
        .offset(page.offset)
        .subquery("ordered")
    )
    rows = _summary_rows(session, ordered, sort_order(filters, None))
    if page.offset == 0 and len(rows) < page.size:
        return ApplicationPage([_summary(row, None) for row in rows], len(rows), False)
    ids = select(Application.id).where(*conditions)
    capped = session.execute(select(func.count()).select_from(ids.limit(limit + 1).subquery())).scalar_one()
    if capped <= limit:
        return ApplicationPage([_summary(row, None) for row in rows], capped, False)
    # Counting a large filtered listing exactly is cheap enough without the text search; round it all the same.
    total = session.execute(select(func.count()).select_from(ids.subquery())).scalar_one()
    return ApplicationPage([_summary(row, None) for row in rows], round_estimate(total), True)


def _candidates(
    session: Session, query: ParsedQuery, conditions: list[Any], entity_ids: list[int], cap: int
) -> Subquery | None:
    """`(application_id, trigram, rank, bonus)` of every application some arm matched, best of each kept."""
    backend = get_backend(session)
    allowed = select(Application.id).where(*conditions) if conditions else None
    zero = literal_column("0.0", Float).label("rank")
    arms: list[tuple[Select, int]] = [(arm, 0) for arm in backend.word_arms(query, allowed, cap)]
    if query.trigram_prefix:
        trigrams = (
            select(Application.id.label("application_id"), Application.trigram, zero)
            .where(Application.trigram.like(like_prefix(query.trigram_prefix), escape="\\"), *conditions)
            .order_by(Application.trigram)
            .limit(cap)
        )
        arms.append((trigrams, 0))
    if query.host_fragment:
        arms.append((backend.host_arm(query.host_fragment, allowed, cap), HOST_FRAGMENT_SCORE))
    if entity_ids:
        in_entity = (
            select(Application.id.label("application_id"), Application.trigram, zero)
            .where(Application.entity_id.in_(entity_ids), *conditions)
            .limit(cap)
        )
        arms.append((in_entity, NAMED_ENTITY_SCORE))
    if not arms:
        return None
    # Each arm is wrapped so that its LIMIT stays its own inside the UNION (SQLite requires it).
    wrapped = []
    for index, (arm, bonus) in enumerate(arms):
        inner = arm.subquery(f"arm_{index}")
        wrapped.append(select(inner.c.application_id, inner.c.trigram, inner.c.rank, literal(bonus).label("bonus")))
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


def find_named_entities(session: Session, query: ParsedQuery) -> list[int]:
    """Entities named exactly as the query (name or code), with every entity below them.

    Their applications are what was asked for. The ids are fetched first so that the search can use the
    index on `application.entity_id` rather than a join the planner cannot size.
    """
    text = query.raw.strip()
    if len(text) < 3:
        return []
    named = select(Entity.id).where(or_(folded(Entity.name) == fold(text), func.lower(Entity.code) == text.lower()))
    return list(session.scalars(select_subtree_ids_of(named)))


def _summary_rows(session: Session, page: Subquery, order: list[Any]) -> list[Any]:
    """One statement for the page: each application with its entity, first owner and indexed text."""

    def first_owner(column: Any) -> Any:
        return (
            select(column)
            .join(Stakeholder, Stakeholder.person_id == Person.id)
            .where(Stakeholder.application_id == Application.id, Stakeholder.role == "owner")
            .order_by(Stakeholder.id)
            .limit(1)
            .scalar_subquery()
        )

    statement = (
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
    return list(session.execute(statement))


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


def with_typo_alternatives(session: Session, query: ParsedQuery) -> ParsedQuery:
    """Give each query word that the index does not know the indexed words one typo away from it."""
    candidates = query.fuzzy_candidates()
    if not candidates:
        return query
    keys = {key for word in candidates for key in variants(word)}
    terms_by_variant: dict[str, set[str]] = {}
    for variant, term in session.execute(
        select(SearchTermVariant.variant, SearchTermVariant.term).where(SearchTermVariant.variant.in_(keys))
    ):
        terms_by_variant.setdefault(variant, set()).add(term)
    alternatives: dict[str, tuple[str, ...]] = {}
    for word in candidates:
        found = {term for key in variants(word) for term in terms_by_variant.get(key, ())}
        if word in found or (word == query.words[-1] and query.prefix_last and _is_known_prefix(session, word)):
            continue
        close = sorted(term for term in found if within_one_edit(word, term))
        if close:
            alternatives[word] = tuple(close[:8])
    return query.with_alternatives(alternatives) if alternatives else query


def _is_known_prefix(session: Session, prefix: str) -> bool:
    """True if an indexed word starts with `prefix` (rows where variant = term are the words themselves)."""
    upper_bound = prefix + "\uffff"
    return (
        session.execute(
            select(literal(1))
            .where(
                SearchTermVariant.variant >= prefix,
                SearchTermVariant.variant < upper_bound,
                SearchTermVariant.variant == SearchTermVariant.term,
            )
            .limit(1)
        ).first()
        is not None
    )


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
