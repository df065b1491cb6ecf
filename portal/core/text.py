"""SQL helpers for matching text the same way on both engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func


def folded(column: Any) -> Any:
    """`column` lowercased and without accents: PostgreSQL's IMMUTABLE `referentiel_unaccent` wrapper,
    or the Python function of the same name registered on every SQLite connection (`extensions`)."""
    return func.referentiel_unaccent(func.lower(column))


def escape_like(text: str) -> str:
    """`text` with LIKE's wildcards taken literally (escape character `\\`, to pass as `escape="\\"`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere."""
    return f"%{escape_like(text)}%"


def like_prefix(text: str) -> str:
    """A LIKE pattern matching values that start with `text`."""
    return f"{escape_like(text)}%"
