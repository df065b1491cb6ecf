"""Finding applications: the filters shared by the API and the pages, ranked search, detail, suggestions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, func, literal, or_, select, union
from sqlalchemy.orm import Session, selectinload
from werkzeug.datastructures import MultiDict

from portal.applications.models import APPLICATION_STATUSES, Application, normalize_trigram
from portal.core.api import choice, search_text
from portal.core.errors import ApiError
from portal.core.pagination import PageRequest
from portal.entities.models import Entity
from portal.entities.queries import select_subtree_ids
from portal.environments.models import ENVIRONMENT_KINDS, Environment
from portal.interfaces.models import Interface
from portal.people.models import STAKEHOLDER_ROLES, Person, Stakeholder, normalize_login
from portal.search.backends import get_backend
from portal.search.models import SearchDocument, SearchTermVariant
from portal.search.query import ParsedQuery
from portal.search.text import highlight, variants, within_one_edit

SORTS = ("relevance", "trigram", "-trigram", "name", "-name", "updated", "-updated")
# Ranking tiers: an exact trigram beats everything, then trigrams starting with the query, then
# hostnames and URLs containing it; word relevance (below 10) orders hits within a tier.
EXACT_TRIGRAM_SCORE = 1000
TRIGRAM_PREFIX_SCORE = 100
HOST_FRAGMENT_SCORE = 20
SEARCHED_FIELDS = ("trigram", "name", "people", "hosts", "entities", "description")


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
        trigram = normalize_trigram(args.get("trigram") or "") or None
        if trigram and len(trigram) > 7:
            raise ApiError(400, f"trigram must be at most 7 characters, got {len(trigram)}.")
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


@dataclass
class ApplicationPage:
    """One page of applications, each a summary dict, with the (possibly estimated) total."""

    results: list[dict[str, Any]]
    count: int
    count_is_estimate: bool
    query: ParsedQuery | None = None
    suggestions: list[str] = field(default_factory=list)


def like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def filter_conditions(filters: ApplicationFilters) -> list[ColumnElement[bool]]:
    """WHERE conditions on `Application` for every filter except the search text."""
    conditions: list[ColumnElement[bool]] = []
    if filters.trigram:
        conditions.append(Application.trigram.like(like_prefix(filters.trigram), escape="\\"))
    if filters.status:
        conditions.append(Application.status.in_(filters.status))
    if filters.entity:
        conditions.append(Application.entity_id.in_(select_subtree_ids(filters.entity)))
    if filters.environment:
        conditions.append(
            exists().where(Environment.application_id == Application.id, Environment.kind.in_(filters.environment))
        )
    if filters.person or filters.role:
        stakeholder = [Stakeholder.application_id == Application.id]
        if filters.person:
            stakeholder.append(Stakeholder.person_id.in_(select(Person.id).where(Person.login == filters.person)))
        if filters.role:
            stakeholder.append(Stakeholder.role.in_(filters.role))
        conditions.append(exists().where(*stakeholder))
    return conditions


def _order(filters: ApplicationFilters, score: ColumnElement[Any] | None) -> list[Any]:
    sort = filters.effective_sort
    if sort == "relevance" and score is not None:
        return [score.desc(), Application.trigram]
    # Names sort as people read them: ignoring case and accents.
    name = func.referentiel_unaccent(func.lower(Application.name))
    column = {"name": name, "updated": Application.updated_at}.get(sort.lstrip("-"), Application.trigram)
    return [column.desc() if sort.startswith("-") else column.asc(), Application.trigram]


def select_ranked_applications(query: ParsedQuery, filters: ApplicationFilters, session: Session) -> Select:
    """`(id, score)` of the applications matching `query` and `filters`, best first."""
    backend = get_backend(session)
    arms: list[Select] = []
    word_match = host_match = None
    words = backend.word_matches(query)
    if words is not None:
        word_match = words.cte("word_match")
        arms.append(select(word_match.c.application_id))
    if query.trigram_prefix:
        arms.append(
            select(Application.id.label("application_id")).where(
                Application.trigram.like(like_prefix(query.trigram_prefix), escape="\\")
            )
        )
    if query.host_fragment:
        host_match = backend.host_matches(query.host_fragment).cte("host_match")
        arms.append(select(host_match.c.application_id))
    candidates = union(*arms).subquery("candidate") if len(arms) > 1 else arms[0].subquery("candidate")

    score: ColumnElement[Any] = literal(0.0)
    if query.trigram:
        score = score + case((Application.trigram == query.trigram, EXACT_TRIGRAM_SCORE), else_=0)
    if query.trigram_prefix:
        prefix = Application.trigram.like(like_prefix(query.trigram_prefix), escape="\\")
        score = score + case((prefix, TRIGRAM_PREFIX_SCORE), else_=0)
    statement = (
        select(Application.id, Application.trigram)
        .select_from(candidates)
        .join(Application, Application.id == candidates.c.application_id)
    )
    if host_match is not None:
        statement = statement.outerjoin(host_match, host_match.c.application_id == Application.id)
        score = score + case((host_match.c.application_id.is_not(None), HOST_FRAGMENT_SCORE), else_=0)
    if word_match is not None:
        statement = statement.outerjoin(word_match, word_match.c.application_id == Application.id)
        score = score + func.coalesce(word_match.c.rank, 0.0)
    score = score.label("score")
    return statement.add_columns(score).where(*filter_conditions(filters)).order_by(*_order(filters, score))


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


def search_applications(
    session: Session, filters: ApplicationFilters, page: PageRequest, exact_count_limit: int = 1000
) -> ApplicationPage:
    """Ranked search when `filters.q` is set, a filtered listing otherwise."""
    query = ParsedQuery.parse(filters.q) if filters.q else None
    if query is not None and query.is_empty and not query.trigram_prefix:
        return ApplicationPage(results=[], count=0, count_is_estimate=False, query=query)
    if query is not None:
        query = with_typo_alternatives(session, query)
        statement = select_ranked_applications(query, filters, session)
    else:
        statement = (
            select(Application.id, Application.trigram, literal(None).label("score"))
            .where(*filter_conditions(filters))
            .order_by(*_order(filters, None))
        )
    rows = session.execute(statement.limit(page.size).offset(page.offset)).all()
    if page.offset == 0 and len(rows) < page.size:
        count, estimated = len(rows), False
    else:
        count, estimated = _count(session, statement, exact_count_limit)
    scores = {row.id: row.score for row in rows}
    results = summarize(session, [row.id for row in rows], query)
    for result in results:
        score = scores[result.pop("id")]
        result["score"] = round(float(score), 4) if score is not None else None
    return ApplicationPage(results=results, count=count, count_is_estimate=estimated, query=query)


def _count(session: Session, statement: Select, limit: int) -> tuple[int, bool]:
    ids = statement.with_only_columns(Application.id).order_by(None)
    capped = session.execute(select(func.count()).select_from(ids.limit(limit + 1).subquery())).scalar_one()
    if capped <= limit:
        return capped, False
    estimate = max(get_backend(session).estimate_count(session, ids), limit + 1)
    return round_estimate(estimate), True


def round_estimate(value: int) -> int:
    """Two significant figures: 29,347 -> 29,000, as "about 29,000" reads."""
    digits = len(str(value))
    return round(value, -(digits - 2)) if digits > 2 else value


def summarize(session: Session, ids: list[int], query: ParsedQuery | None) -> list[dict[str, Any]]:
    """Summary dicts of these applications, in this order; with why each matched when `query` is given."""
    if not ids:
        return []
    rows = session.execute(
        select(Application, Entity.code, Entity.name, SearchDocument)
        .outerjoin(Entity, Entity.id == Application.entity_id)
        .outerjoin(SearchDocument, SearchDocument.application_id == Application.id)
        .where(Application.id.in_(ids))
    ).all()
    owners: dict[int, dict[str, str]] = {}
    for application_id, login, display_name in session.execute(
        select(Stakeholder.application_id, Person.login, Person.display_name)
        .join(Person, Person.id == Stakeholder.person_id)
        .where(Stakeholder.application_id.in_(ids), Stakeholder.role == "owner")
        .order_by(Stakeholder.id)
    ):
        owners.setdefault(application_id, {"login": login, "name": display_name})
    by_id = {}
    for application, entity_code, entity_name, document in rows:
        by_id[application.id] = {
            "id": application.id,
            "trigram": application.trigram,
            "name": application.name,
            "status": application.status,
            "criticality": application.criticality,
            "entity": {"code": entity_code, "name": entity_name} if entity_code else None,
            "owner": owners.get(application.id),
            "updated_at": application.updated_at.isoformat(),
            "matches": explain_match(document, query) if query is not None and document is not None else [],
        }
    return [by_id[application_id] for application_id in ids if application_id in by_id]


def explain_match(document: SearchDocument, query: ParsedQuery) -> list[dict[str, str]]:
    """Which fields of the document the query matched, each with a highlighted HTML fragment."""
    whole, prefixes = query.matched_terms()
    matches = []
    if query.trigram_prefix and document.trigram.startswith(query.trigram_prefix):
        size = len(query.trigram_prefix)
        fragment = f"<mark>{document.trigram[:size]}</mark>{document.trigram[size:]}"
        matches.append({"field": "trigram", "highlight": fragment})
    for name in SEARCHED_FIELDS[1:]:
        marked = highlight(getattr(document, name) or "", whole, prefixes)
        if marked is not None:
            matches.append({"field": name, "highlight": str(marked)})
    if query.host_fragment and not any(match["field"] == "hosts" for match in matches):
        hosts = document.hosts or ""
        start = hosts.lower().find(query.host_fragment)
        if start >= 0:
            host = hosts[start : start + len(query.host_fragment)]
            matches.append({"field": "hosts", "highlight": str(highlight_span(hosts, start, len(host)))})
    return matches


def highlight_span(text: str, start: int, length: int) -> str:
    from markupsafe import Markup, escape

    left = text.rfind(" ", 0, start) + 1
    right = text.find(" ", start + length)
    right = len(text) if right < 0 else right
    return str(
        escape(text[left:start])
        + Markup("<mark>%s</mark>") % text[start : start + length]
        + escape(text[start + length : right])
    )


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
