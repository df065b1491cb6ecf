"""SQLite: FTS5 with diacritics removed for words, an FTS5 trigram table for substrings of hostnames and URLs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    String,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.orm import Session

from portal.search.backends.base import CAP, PHRASE_SCORE, SearchBackend, no_rank, scaled_rank
from portal.search.query import ParsedQuery

SEARCH_FTS = table("search_fts", column("rowid"), column("trigram"))
SEARCH_HOST_FTS = table("search_host_fts", column("rowid"))
SEARCH_DOCUMENT = table("search_document", column("application_id"), column("trigram"))
# bm25 weights per FTS column: trigram, name, people, hosts, entities, description.
BM25 = "bm25(search_fts, 10.0, 8.0, 3.0, 3.0, 2.0, 0.3)"


def fts_query_text(query: ParsedQuery) -> str:
    """FTS5 syntax: every word AND-ed, each OR-ed with its typo alternatives, the last as a prefix.

    Words are [0-9a-z] only (see `text.words`), so quoting them is enough to keep FTS5 syntax out.
    """
    groups = [
        "(" + " OR ".join([f'"{word}"*' if as_prefix else f'"{word}"', *(f'"{option}"' for option in options)]) + ")"
        for word, as_prefix, options in query.term_groups()
    ]
    return " AND ".join(groups)


def _restricted(statement: Select, allowed: Select | None, id_column: Any) -> Select:
    return statement if allowed is None else statement.where(id_column.in_(allowed))


def _matches(fts_table: str, parameter: str) -> ColumnElement[bool]:
    return literal_column(fts_table).op("MATCH")(bindparam(parameter, type_=String))


class SqliteBackend(SearchBackend):
    def word_arms(self, allowed: Select | None, anywhere: bool, phrase: bool) -> list[Select]:
        # bm25() is negative, better matches more so.
        rank = scaled_rank(literal_column(f"(-{BM25})", Float))
        # MATCH cannot be used in a select list, so the phrase is an arm of its own.
        matches = [("fts_title", rank, 0)]
        if anywhere:
            matches.append(("fts_all", rank, 0))
        if anywhere and phrase:
            matches.append(("fts_phrase", no_rank(), PHRASE_SCORE))
        arms = []
        for parameter, rank, bonus in matches:
            arm = select(
                SEARCH_FTS.c.rowid.label("application_id"), SEARCH_FTS.c.trigram, rank, literal(bonus).label("bonus")
            )
            arms.append(
                _restricted(arm.where(_matches("search_fts", parameter)), allowed, SEARCH_FTS.c.rowid).limit(CAP)
            )
        return arms

    def word_parameters(self, query: ParsedQuery) -> dict[str, Any]:
        expression = fts_query_text(query)
        parameters = {"fts_title": f"{{trigram name}} : ({expression})", "fts_all": expression}
        if query.phrase:
            # A quoted string of several words is an FTS5 phrase; a trailing * makes its last word a prefix.
            parameters["fts_phrase"] = '"' + " ".join(query.phrase) + '"' + ("*" if query.prefix_last else "")
        return parameters

    def host_arm(self, allowed: Select | None) -> Select:
        # The trigram tokenizer finds any substring of three characters or more.
        arm = (
            select(SEARCH_HOST_FTS.c.rowid.label("application_id"), SEARCH_DOCUMENT.c.trigram, no_rank())
            .join(SEARCH_DOCUMENT, SEARCH_DOCUMENT.c.application_id == SEARCH_HOST_FTS.c.rowid)
            .where(_matches("search_host_fts", "host_match"))
        )
        return _restricted(arm, allowed, SEARCH_HOST_FTS.c.rowid).limit(CAP)

    def host_parameters(self, fragment: str) -> dict[str, Any]:
        return {"host_match": '"' + fragment.replace('"', '""') + '"'}

    def estimate_matches(
        self, session: Session, query: ParsedQuery, allowed: Select | None, parameters: dict[str, Any]
    ) -> int:
        # SQLite has no planner estimate; it is the embedded engine, so it counts.
        if not query.words:
            return 0
        statement = _restricted(
            select(SEARCH_FTS.c.rowid).where(_matches("search_fts", "fts_all")), allowed, SEARCH_FTS.c.rowid
        )
        return self.estimate_rows(session, statement, parameters)

    def estimate_rows(self, session: Session, statement: Select, parameters: dict[str, Any]) -> int:
        counting = select(func.count()).select_from(statement.subquery())
        return int(session.execute(counting, parameters).scalar_one())
