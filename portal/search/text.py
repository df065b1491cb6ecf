"""Text as search sees it: accents folded, lowercase, split into words; typo neighbours; highlighting.

The index builder and the query parser both go through `words()`, so what is indexed and what is
asked for are always cut the same way, on either engine.
"""

from __future__ import annotations

import re
import unicodedata

from markupsafe import Markup, escape

WORD = re.compile(r"[0-9a-z]+")
WORDS_AS_WRITTEN = re.compile(r"\w+")
TRIGRAM_SHAPE = re.compile(r"^[a-z]{3}[a-z0-9]{0,4}$")
TRIGRAM_PREFIX_SHAPE = re.compile(r"^[a-z][a-z0-9]{0,6}$")

# Words too common in names and descriptions to narrow a search; a query made only of them keeps them.
STOPWORDS = frozenset(
    "a an and au aux d de des du en et for in l la le les of on ou par pour sur the to un une".split()  # noqa: SIM905
)

# Words shorter than this are never matched with a typo: "sap" and "sas" are different words.
FUZZY_MIN_LENGTH = 4
# Words shorter than this are matched whole, never as a prefix (except against trigrams).
PREFIX_MIN_LENGTH = 3
MAX_WORD_LENGTH = 64


class _FoldTable(dict[int, str]):
    """`str.translate` table that folds each character once, the first time it is met."""

    # Letters that Unicode does not decompose but PostgreSQL's unaccent spells out.
    LIGATURES = {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d"}

    def __missing__(self, codepoint: int) -> str:
        lowered = chr(codepoint).casefold()
        decomposed = unicodedata.normalize("NFKD", lowered)
        stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
        folded = self[codepoint] = self.LIGATURES.get(lowered, stripped)
        return folded


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """Lowercase `text` and strip its accents: "Électricité" -> "electricite"."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD_TABLE)


def words(text: str | None) -> list[str]:
    return [word for word in WORD.findall(fold(text or "")) if len(word) <= MAX_WORD_LENGTH]


def deletes(word: str) -> set[str]:
    """Every string made by deleting one letter of `word`."""
    return {word[:index] + word[index + 1 :] for index in range(len(word))}


def variants(word: str) -> set[str]:
    """The keys under which `word` is filed for typo lookup: itself and its one-letter deletions."""
    return {word} | deletes(word)


def within_one_edit(left: str, right: str) -> bool:
    """True if one insertion, deletion, substitution or swap of two neighbours turns `left` into `right`."""
    if left == right:
        return True
    if abs(len(left) - len(right)) > 1:
        return False
    if len(left) == len(right):
        differences = [index for index, (a, b) in enumerate(zip(left, right, strict=True)) if a != b]
        if len(differences) == 1:
            return True
        if len(differences) != 2:
            return False
        first, second = differences
        return second == first + 1 and left[first] == right[second] and left[second] == right[first]
    shorter, longer = sorted((left, right), key=len)
    return any(longer[:index] + longer[index + 1 :] == shorter for index in range(len(longer)))


def word_pattern(terms: set[str], prefixes: set[str]) -> re.Pattern[str] | None:
    """A regex finding, in folded text, the whole `terms` and the words starting with `prefixes`."""
    alternatives = [re.escape(term) for term in sorted(terms, key=len, reverse=True)]
    alternatives += [re.escape(prefix) + "[0-9a-z]*" for prefix in sorted(prefixes)]
    if not alternatives:
        return None
    return re.compile("(?<![0-9a-z])(?:" + "|".join(alternatives) + ")(?![0-9a-z])")


def highlight(text: str, pattern: re.Pattern[str] | None, width: int = 120) -> Markup | None:
    """`text` with the words `pattern` (see `word_pattern`) finds wrapped in <mark>, HTML-escaped.

    Returns None when nothing matches. Long texts are cut to a window around the first match.
    """
    if pattern is None:
        return None
    folded = fold(text)
    if len(folded) == len(text):
        # Folding kept every character in place (the usual case): positions carry over to the text.
        spans = [match.span() for match in pattern.finditer(folded)]
    else:
        spans = [match.span() for match in WORDS_AS_WRITTEN.finditer(text) if pattern.fullmatch(fold(match.group()))]
    if not spans:
        return None
    start = max(0, spans[0][0] - width // 3)
    end = min(len(text), start + width)
    if start > 0:
        # Do not start in the middle of a word.
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < spans[0][0] else start
    pieces: list[str | Markup] = ["…" if start > 0 else ""]
    cursor = start
    for span_start, span_end in spans:
        if span_start < cursor or span_end > end:
            continue
        pieces.append(escape(text[cursor:span_start]))
        pieces.append(Markup("<mark>%s</mark>") % text[span_start:span_end])
        cursor = span_end
    pieces.append(escape(text[cursor:end]))
    if end < len(text):
        pieces.append("…")
    return Markup("").join(pieces)
