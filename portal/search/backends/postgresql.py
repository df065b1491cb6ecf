"""PostgreSQL: weighted tsvectors (GIN) for words, pg_trgm (GIN) for substrings of hostnames and URLs."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, func, literal_column, select, text
from sqlalchemy.orm import Session

from portal.search.backends.base import TEXT_RANK_SCALE, SearchBackend
from portal.search.models import SearchDocument
from portal.search.query import ParsedQuery

# Built by the migrations, unknown to the models: `document` weighs trigram and name (A), people and
# hosts (B), entities (C) and description (D); `title` holds the trigram and name alone.
DOCUMENT: ColumnElement[Any] = literal_column("search_document.document")
TITLE: ColumnElement[Any] = literal_column("search_document.title")


def tsquery_text(query: ParsedQuery) -> str:
    """`to_tsquery` syntax: every word AND-ed, each OR-ed with its typo alternatives, the last as a prefix."""
    groups = []
    for index, word in enumerate(query.words):
        last = index == len(query.words) - 1
        terms = [f"{word}:*" if last and query.prefix_last else word, *query.alternatives.get(word, ())]
        groups.append("(" + " | ".join(terms) + ")")
    return " & ".join(groups)


def _restricted(statement: Select, allowed: Select | None) -> Select:
    return statement if allowed is None else statement.where(SearchDocument.application_id.in_(allowed))


class PostgresqlBackend(SearchBackend):
    def word_arms(self, query: ParsedQuery, allowed: Select | None, cap: int) -> list[Select]:
        if not query.words:
            return []
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), tsquery_text(query))
        # Weights of the classes {D, C, B, A}: descriptions weigh little so that their common words do not
        # drown names. rank / (rank + 1) maps ts_rank's [0, inf) into [0, 1).
        rank = func.ts_rank(literal_column("'{0.02, 0.3, 0.4, 1.0}'::float4[]"), DOCUMENT, tsquery, type_=Float)
        scaled = (rank / (rank + literal_column("1.0", Float)) * TEXT_RANK_SCALE).label("rank")
        arms = []
        for vector in (TITLE, DOCUMENT):
            arm = select(SearchDocument.application_id, SearchDocument.trigram, scaled).where(vector.op("@@")(tsquery))
            arms.append(_restricted(arm, allowed).limit(cap))
        return arms

    def host_arm(self, fragment: str, allowed: Select | None, cap: int) -> Select:
        pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        zero = literal_column("0.0", Float).label("rank")
        arm = select(SearchDocument.application_id, SearchDocument.trigram, zero).where(
            func.lower(SearchDocument.hosts).like(pattern, escape="\\")
        )
        return _restricted(arm, allowed).limit(cap)

    def estimate_matches(self, session: Session, query: ParsedQuery, allowed: Select | None) -> int:
        if not query.words:
            return 0
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), tsquery_text(query))
        statement = _restricted(select(SearchDocument.application_id).where(DOCUMENT.op("@@")(tsquery)), allowed)
        compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
