"""PostgreSQL: weighted tsvectors (GIN) for words, pg_trgm (GIN) for substrings of hostnames and URLs."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    String,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql  # noqa: F401  (registers to_tsquery's PostgreSQL types first)
from sqlalchemy.orm import Session

from portal.core.text import contains_pattern
from portal.search.backends.base import CAP, PHRASE_SCORE, SearchBackend, no_rank, scaled_rank
from portal.search.models import SearchDocument
from portal.search.query import ParsedQuery

# Built by the migrations, unknown to the models: `document` weighs trigram and name (A), people and
# hosts (B), entities (C) and description (D); `title` holds the trigram and name alone.
DOCUMENT: ColumnElement[Any] = literal_column("search_document.document")
TITLE: ColumnElement[Any] = literal_column("search_document.title")
TSQUERY = func.to_tsquery(literal_column("'simple'::regconfig"), bindparam("tsquery", type_=String))
PHRASE = func.to_tsquery(literal_column("'simple'::regconfig"), bindparam("phrase", type_=String))


def tsquery_text(query: ParsedQuery) -> str:
    """`to_tsquery` syntax: every word AND-ed, each OR-ed with its typo alternatives, the last as a prefix."""
    groups = [
        "(" + " | ".join([f"{word}:*" if as_prefix else word, *options]) + ")"
        for word, as_prefix, options in query.term_groups()
    ]
    return " & ".join(groups)


def _restricted(statement: Select, allowed: Select | None) -> Select:
    return statement if allowed is None else statement.where(SearchDocument.application_id.in_(allowed))


class PostgresqlBackend(SearchBackend):
    def in_byte_order(self, column: Any) -> Any:
        # Matches the index ix_application_trigram_c; SQLite compares bytes already.
        return column.collate("C")

    def word_arms(self, allowed: Select | None, anywhere: bool, phrase: bool) -> list[Select]:
        # Weights of the classes {D, C, B, A}: descriptions weigh little so that their common words do not
        # drown names.
        rank = scaled_rank(
            func.ts_rank(literal_column("'{0.02, 0.3, 0.4, 1.0}'::float4[]"), DOCUMENT, TSQUERY, type_=Float)
        )
        arms = []
        for vector in (TITLE, DOCUMENT) if anywhere else (TITLE,):
            # The phrase is checked on the rows the arm keeps, not looked up again in the index.
            bonus = case((vector.op("@@")(PHRASE), PHRASE_SCORE), else_=0) if phrase else literal(0)
            arm = select(SearchDocument.application_id, SearchDocument.trigram, rank, bonus.label("bonus"))
            arms.append(_restricted(arm.where(vector.op("@@")(TSQUERY)), allowed).limit(CAP))
        return arms

    def word_parameters(self, query: ParsedQuery) -> dict[str, Any]:
        parameters = {"tsquery": tsquery_text(query)}
        if query.phrase:
            # `<->` asks for the next position: the words side by side, in this order.
            words = list(query.phrase)
            if query.prefix_last:
                words[-1] += ":*"
            parameters["phrase"] = " <-> ".join(words)
        return parameters

    def host_arm(self, allowed: Select | None) -> Select:
        arm = select(SearchDocument.application_id, SearchDocument.trigram, no_rank()).where(
            func.lower(SearchDocument.hosts).like(bindparam("host_pattern", type_=String), escape="\\")
        )
        return _restricted(arm, allowed).limit(CAP)

    def host_parameters(self, fragment: str) -> dict[str, Any]:
        return {"host_pattern": contains_pattern(fragment)}

    def estimate_matches(
        self, session: Session, query: ParsedQuery, allowed: Select | None, parameters: dict[str, Any]
    ) -> int:
        if not query.words:
            return 0
        statement = _restricted(select(SearchDocument.application_id).where(DOCUMENT.op("@@")(TSQUERY)), allowed)
        return self.estimate_rows(session, statement, parameters)

    def estimate_rows(self, session: Session, statement: Select, parameters: dict[str, Any]) -> int:
        """The planner's estimate, from EXPLAIN: no row is read."""
        # EXPLAIN takes no bind parameters: render the values into the statement (escaped by the dialect).
        names = statement.compile(session.get_bind()).params
        bound = statement.params({name: value for name, value in parameters.items() if name in names})
        compiled = bound.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
