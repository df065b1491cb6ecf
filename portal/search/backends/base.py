"""What a search engine must provide; ranking tiers, filters, paging and summaries are shared."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Label, Select, bindparam, literal_column
from sqlalchemy.orm import Session

from portal.search.query import ParsedQuery

# Text relevance is scaled into [0, TEXT_RANK_SCALE) so that it only orders hits within a tier
# (exact trigram > trigram prefix > host substring > words).
TEXT_RANK_SCALE = 10.0


def scaled_rank(relevance: ColumnElement[float]) -> Label[float]:
    """An engine's relevance (0 and up, unbounded) mapped into [0, TEXT_RANK_SCALE) as `rank`."""
    return (relevance / (relevance + literal_column("1.0", Float)) * TEXT_RANK_SCALE).label("rank")


def no_rank() -> Label[float]:
    """`rank` for arms whose tier bonus says it all (trigram prefix, host, named entity...)."""
    return literal_column("0.0", Float).label("rank")


# Every arm stops after this many rows (a bind parameter, so that statements can be reused).
CAP = bindparam("cap", type_=Integer)
# The query's words side by side, in order ("Marie François", not "Marie Dupont, François Martin"):
# a bonus above any spread of scattered words.
PHRASE_SCORE = 5


class SearchBackend(ABC):
    """An engine-specific way to match words and fragments of hostnames.

    The statements it builds depend only on the shape of a search, never on its values: those travel
    as bind parameters (`word_parameters`, `host_parameters`, `cap`), so that a built statement can
    serve every search of the same shape. Every select returned has the columns `application_id`,
    `trigram` and `rank`, keeps only ids in `allowed` (the applications the filters let through; None
    for all), and stops after `cap` rows without sorting them: ranking a common word's tens of
    thousands of matches would cost more than a search may. The shared code ranks, sorts and pages.
    """

    def in_byte_order(self, column: Any) -> Any:
        """`column` compared and sorted byte by byte (what an index of trigram prefixes needs)."""
        return column

    @abstractmethod
    def word_arms(self, allowed: Select | None, anywhere: bool, phrase: bool) -> list[Select]:
        """Applications holding every word of the query (or one of its typo alternatives; the last word
        also as a prefix while typing), as selects of `application_id, trigram, rank, bonus`: those
        with all the words in their trigram and name, and, when `anywhere`, those with the words
        anywhere in the document; rank in [0, TEXT_RANK_SCALE). When `phrase`, hits that hold the
        words side by side get a bonus of PHRASE_SCORE."""

    @abstractmethod
    def word_parameters(self, query: ParsedQuery) -> dict[str, Any]:
        """The bind parameters of `word_arms` for this query."""

    @abstractmethod
    def host_arm(self, allowed: Select | None) -> Select:
        """Applications with a hostname or URL containing the query (rank 0)."""

    @abstractmethod
    def host_parameters(self, fragment: str) -> dict[str, Any]:
        """The bind parameters of `host_arm` for this fragment."""

    @abstractmethod
    def estimate_matches(
        self, session: Session, query: ParsedQuery, allowed: Select | None, parameters: dict[str, Any]
    ) -> int:
        """How many applications the words of `query` match in all, cheaply estimated."""

    @abstractmethod
    def estimate_rows(self, session: Session, statement: Select, parameters: dict[str, Any]) -> int:
        """How many rows `statement` returns, cheaply estimated."""
