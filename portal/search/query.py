"""What a search box query means, before any engine sees it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property

from portal.search.text import (
    FUZZY_MIN_LENGTH,
    PREFIX_MIN_LENGTH,
    STOPWORDS,
    TRIGRAM_PREFIX_SHAPE,
    TRIGRAM_SHAPE,
    fold,
    word_pattern,
    words,
)

HOST_PUNCTUATION = set(".-_/:")


@dataclass(frozen=True)
class ParsedQuery:
    """A query cut into the parts each kind of match needs.

    - `words`: folded words, all of which must match somewhere (stopwords dropped unless alone);
    - `phrase`: every folded word in order, stopwords included, when there are two or more: hits that
      hold them side by side ("Marie François", not "Marie Dupont, François Martin") rank higher;
    - `prefix_last`: the last word is still being typed, so it also matches as a prefix;
    - `trigram`: the query as an exact trigram ("bca" -> "BCA"), when it has that shape;
    - `trigram_prefix`: the query as the start of trigrams ("bc" -> "BC");
    - `host_fragment`: the query as a substring of hostnames and URLs, when it looks like one;
    - `alternatives`: for each word, words of the index within one typo (filled in by the service).
    """

    raw: str
    words: tuple[str, ...] = ()
    phrase: tuple[str, ...] = ()
    prefix_last: bool = False
    trigram: str | None = None
    trigram_prefix: str | None = None
    host_fragment: str | None = None
    alternatives: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str) -> ParsedQuery:
        text = raw.strip()
        all_words = words(text)
        meaningful = [word for word in all_words if word not in STOPWORDS] or all_words
        single = fold(text) if len(all_words) == 1 else ""
        # A query that ends with a space is finished: its last word is no longer a prefix.
        prefix_last = bool(meaningful) and not raw.endswith(" ") and len(meaningful[-1]) >= PREFIX_MIN_LENGTH
        looks_like_host = any(char in HOST_PUNCTUATION for char in text) and " " not in text and len(text) >= 3
        return cls(
            raw=raw,
            words=tuple(dict.fromkeys(meaningful)),
            phrase=tuple(all_words) if len(all_words) >= 2 else (),
            prefix_last=prefix_last,
            trigram=single.upper() if TRIGRAM_SHAPE.match(single) else None,
            trigram_prefix=single.upper() if TRIGRAM_PREFIX_SHAPE.match(single) else None,
            host_fragment=fold(text) if looks_like_host else None,
        )

    @property
    def is_empty(self) -> bool:
        return not self.words and not self.host_fragment

    def fuzzy_candidates(self) -> list[str]:
        """Words long enough to be matched with one typo."""
        return [word for word in self.words if len(word) >= FUZZY_MIN_LENGTH and not word.isdigit()]

    def with_alternatives(self, alternatives: dict[str, tuple[str, ...]]) -> ParsedQuery:
        return replace(self, alternatives=alternatives)

    def term_groups(self) -> list[tuple[str, bool, tuple[str, ...]]]:
        """For each word: (the word, whether it matches as a prefix, its typo alternatives), which every
        engine's query syntax then spells in its own way."""
        last = len(self.words) - 1
        return [
            (word, index == last and self.prefix_last, self.alternatives.get(word, ()))
            for index, word in enumerate(self.words)
        ]

    @cached_property
    def highlight_pattern(self) -> re.Pattern[str] | None:
        """Finds, in folded text, the words a hit may contain: for highlighting why it matched."""
        whole = set(self.words)
        for options in self.alternatives.values():
            whole.update(options)
        prefixes = {self.words[-1]} if self.prefix_last else set()
        return word_pattern(whole, prefixes)
