"""PostgreSQL: a weighted tsvector (GIN) for words, pg_trgm (GIN) for substrings of hosts."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select, text
from sqlalchemy.orm import Session

from portal.search.backends.base import TEXT_RANK_SCALE, SearchBackend
from portal.search.models import SearchDocument
from portal.search.query import ParsedQuery

# Weights of the tsvector's classes {D, C, B, A}: description, entities, people and hosts, trigram and name.
# Descriptions weigh little so that their common words do not drown names.
RANK_WEIGHTS = "'{0.02, 0.3, 0.4, 1.0}'::float4[]"
DOCUMENT: ColumnElement[Any] = literal_column("search_document.document")


def tsquery_text(query: ParsedQuery) -> str:
    """`to_tsquery` syntax: every word AND-ed, each OR-ed with its typo alternatives, the last as a prefix."""
    groups = []
    for index, word in enumerate(query.words):
        options = [word, *query.alternatives.get(word, ())]
        terms = [
            f"{option}:*" if option == word and index == len(query.words) - 1 and query.prefix_last else option
            for option in options
        ]
        groups.append("(" + " | ".join(terms) + ")")
    return " & ".join(groups)


class PostgresqlBackend(SearchBackend):
    def word_matches(self, query: ParsedQuery) -> Select | None:
        if not query.words:
            return None
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), tsquery_text(query))
        rank = func.ts_rank(literal_column(RANK_WEIGHTS), DOCUMENT, tsquery)
        # ts_rank grows without bound in theory; rank / (rank + 1) keeps it in [0, 1).
        scaled = rank / (rank + 1) * TEXT_RANK_SCALE
        return select(SearchDocument.application_id, scaled.label("rank")).where(DOCUMENT.op("@@")(tsquery))

    def host_matches(self, fragment: str) -> Select:
        pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return select(SearchDocument.application_id).where(func.lower(SearchDocument.hosts).like(pattern))

    def estimate_count(self, session: Session, statement: Select) -> int:
        compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
