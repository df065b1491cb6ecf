"""What a search engine must provide; everything else (ranking tiers, filters, paging) is shared."""

from __future__ import annotations

from abc import ABC, abstractmethod

from sqlalchemy import Select
from sqlalchemy.orm import Session

from portal.search.query import ParsedQuery

# Text relevance is scaled into [0, TEXT_RANK_SCALE) so that it only orders hits within a tier
# (exact trigram > trigram prefix > host substring > words).
TEXT_RANK_SCALE = 10.0


class SearchBackend(ABC):
    """An engine-specific way to match words and host fragments."""

    @abstractmethod
    def word_matches(self, query: ParsedQuery) -> Select | None:
        """Applications whose document holds every word of `query` (each word, or one of its typo
        alternatives; the last word also as a prefix when `query.prefix_last`), as a select of
        `(application_id, rank)` with rank in [0, TEXT_RANK_SCALE)."""

    @abstractmethod
    def host_matches(self, fragment: str) -> Select:
        """Applications with a hostname or URL containing `fragment`, as a select of `application_id`."""

    @abstractmethod
    def estimate_count(self, session: Session, statement: Select) -> int:
        """A cheap estimate of how many rows `statement` returns."""
