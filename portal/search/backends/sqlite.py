"""SQLite: FTS5 with diacritics removed for words, an FTS5 trigram table for substrings of hostnames and URLs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float, Select, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from portal.search.backends.base import TEXT_RANK_SCALE, SearchBackend
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
    groups = []
    for index, word in enumerate(query.words):
        last = index == len(query.words) - 1
        terms = [f'"{word}"*' if last and query.prefix_last else f'"{word}"']
        terms += [f'"{option}"' for option in query.alternatives.get(word, ())]
        groups.append("(" + " OR ".join(terms) + ")")
    return " AND ".join(groups)


def _restricted(statement: Select, allowed: Select | None, id_column: Any) -> Select:
    return statement if allowed is None else statement.where(id_column.in_(allowed))


class SqliteBackend(SearchBackend):
    def word_arms(self, query: ParsedQuery, allowed: Select | None, cap: int) -> list[Select]:
        if not query.words:
            return []
        # bm25() is negative, better matches more so; -bm25 / (1 - bm25) maps it into [0, 1).
        relevance: ColumnElement[float] = literal_column(f"(-{BM25})", Float)
        scaled = (relevance / (relevance + literal_column("1.0", Float)) * TEXT_RANK_SCALE).label("rank")
        expression = fts_query_text(query)
        arms = []
        for match in (f"{{trigram name}} : ({expression})", expression):
            arm = select(SEARCH_FTS.c.rowid.label("application_id"), SEARCH_FTS.c.trigram, scaled).where(
                literal_column("search_fts").op("MATCH")(match)
            )
            arms.append(_restricted(arm, allowed, SEARCH_FTS.c.rowid).limit(cap))
        return arms

    def host_arm(self, fragment: str, allowed: Select | None, cap: int) -> Select:
        # The trigram tokenizer finds any substring of three characters or more.
        quoted = '"' + fragment.replace('"', '""') + '"'
        zero = literal_column("0.0", Float).label("rank")
        arm = (
            select(SEARCH_HOST_FTS.c.rowid.label("application_id"), SEARCH_DOCUMENT.c.trigram, zero)
            .join(SEARCH_DOCUMENT, SEARCH_DOCUMENT.c.application_id == SEARCH_HOST_FTS.c.rowid)
            .where(literal_column("search_host_fts").op("MATCH")(quoted))
        )
        return _restricted(arm, allowed, SEARCH_HOST_FTS.c.rowid).limit(cap)

    def estimate_matches(self, session: Session, query: ParsedQuery, allowed: Select | None) -> int:
        # SQLite has no planner estimate; it is the embedded engine, so it counts.
        if not query.words:
            return 0
        statement = select(SEARCH_FTS.c.rowid).where(literal_column("search_fts").op("MATCH")(fts_query_text(query)))
        statement = _restricted(statement, allowed, SEARCH_FTS.c.rowid)
        return int(session.execute(select(func.count()).select_from(statement.subquery())).scalar_one())
