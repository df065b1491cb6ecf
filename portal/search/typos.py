"""Typo tolerance: query words the index does not know get the indexed words one edit away from them."""

from __future__ import annotations

from sqlalchemy import bindparam, literal, select
from sqlalchemy.orm import Session

from portal.search.models import SearchTermVariant
from portal.search.query import ParsedQuery
from portal.search.text import variants, within_one_edit


def with_typo_alternatives(session: Session, query: ParsedQuery) -> ParsedQuery:
    """Give each query word that the index does not know the indexed words one typo away from it."""
    candidates = query.fuzzy_candidates()
    if not candidates:
        return query
    keys = sorted({key for word in candidates for key in variants(word)})
    terms_by_variant: dict[str, set[str]] = {}
    for variant, term in session.execute(_VARIANTS, {"keys": keys}):
        terms_by_variant.setdefault(variant, set()).add(term)
    alternatives: dict[str, tuple[str, ...]] = {}
    for word in candidates:
        found = {term for key in variants(word) for term in terms_by_variant.get(key, ())}
        if word in found or (word == query.words[-1] and query.prefix_last and _is_known_prefix(session, word)):
            continue
        close = sorted(term for term in found if within_one_edit(word, term))
        if close:
            alternatives[word] = tuple(close[:8])
    return query.with_alternatives(alternatives) if alternatives else query


_VARIANTS = select(SearchTermVariant.variant, SearchTermVariant.term).where(
    SearchTermVariant.variant.in_(bindparam("keys", expanding=True))
)
# Rows where variant = term are the indexed words themselves.
_KNOWN_PREFIX = (
    select(literal(1))
    .where(
        SearchTermVariant.variant >= bindparam("prefix"),
        SearchTermVariant.variant < bindparam("prefix_end"),
        SearchTermVariant.variant == SearchTermVariant.term,
    )
    .limit(1)
)


def _is_known_prefix(session: Session, prefix: str) -> bool:
    """True if an indexed word starts with `prefix`."""
    return session.execute(_KNOWN_PREFIX, {"prefix": prefix, "prefix_end": prefix + "\uffff"}).first() is not None
