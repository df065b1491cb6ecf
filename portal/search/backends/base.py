"""What a search engine must provide; ranking tiers, filters, paging and summaries are shared."""

from __future__ import annotations

from abc import ABC, abstractmethod

from sqlalchemy import Select
from sqlalchemy.orm import Session

from portal.search.query import ParsedQuery

# Text relevance is scaled into [0, TEXT_RANK_SCALE) so that it only orders hits within a tier
# (exact trigram > trigram prefix > host substring > words).
TEXT_RANK_SCALE = 10.0


class SearchBackend(ABC):
    """An engine-specific way to match words and fragments of hostnames.

    Every select it returns has the columns `application_id`, `trigram` and `rank`, keeps only ids in `allowed`
    (the applications the filters let through; None for all), and stops after `cap` rows without
    sorting them: ranking a common word's tens of thousands of matches would cost more than a search
    may. The shared code ranks, sorts and pages what the arms return.
    """

    @abstractmethod
    def word_arms(self, query: ParsedQuery, allowed: Select | None, cap: int) -> list[Select]:
        """Applications holding every word of `query` (or one of its typo alternatives; the last word
        also as a prefix when `query.prefix_last`): first those where all words are in the trigram and
        name, then those where they are anywhere in the document, rank in [0, TEXT_RANK_SCALE)."""

    @abstractmethod
    def host_arm(self, fragment: str, allowed: Select | None, cap: int) -> Select:
        """Applications with a hostname or URL containing `fragment` (rank 0)."""

    @abstractmethod
    def estimate_matches(self, session: Session, query: ParsedQuery, allowed: Select | None) -> int:
        """How many applications the words of `query` match in all, cheaply estimated."""
