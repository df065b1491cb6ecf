"""SQLite: FTS5 with diacritics removed for words, an FTS5 trigram table for substrings of hosts."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from portal.search.backends.base import TEXT_RANK_SCALE, SearchBackend
from portal.search.query import ParsedQuery

SEARCH_FTS = table("search_fts", column("rowid"))
SEARCH_HOST_FTS = table("search_host_fts", column("rowid"))
# bm25 weights per FTS column: trigram, name, people, hosts, entities, description.
BM25 = "bm25(search_fts, 10.0, 8.0, 3.0, 3.0, 2.0, 0.3)"


def fts_query_text(query: ParsedQuery) -> str:
    """FTS5 syntax: every word AND-ed, each OR-ed with its typo alternatives, the last as a prefix.

    Words are [0-9a-z] only (see `text.words`), so quoting them is enough to keep FTS5 syntax out.
    """
    groups = []
    for index, word in enumerate(query.words):
        options = [word, *query.alternatives.get(word, ())]
        terms = [
            f'"{option}"*' if option == word and index == len(query.words) - 1 and query.prefix_last else f'"{option}"'
            for option in options
        ]
        groups.append("(" + " OR ".join(terms) + ")")
    return " AND ".join(groups)


class SqliteBackend(SearchBackend):
    def word_matches(self, query: ParsedQuery) -> Select | None:
        if not query.words:
            return None
        # bm25() is negative, better matches more so; -bm25 / (1 - bm25) maps it into [0, 1).
        relevance: ColumnElement[float] = literal_column(f"(-{BM25})")
        scaled = relevance / (relevance + 1) * TEXT_RANK_SCALE
        return select(SEARCH_FTS.c.rowid.label("application_id"), scaled.label("rank")).where(
            literal_column("search_fts").op("MATCH")(fts_query_text(query))
        )

    def host_matches(self, fragment: str) -> Select:
        # The trigram tokenizer finds any substring of three characters or more.
        quoted = '"' + fragment.replace('"', '""') + '"'
        return select(SEARCH_HOST_FTS.c.rowid.label("application_id")).where(
            literal_column("search_host_fts").op("MATCH")(quoted)
        )

    def estimate_count(self, session: Session, statement: Select) -> int:
        # SQLite has no planner estimate; it is the embedded engine, so count, then round like an estimate.
        exact = session.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
        return int(exact)
