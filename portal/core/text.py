"""SQL helpers for matching text the same way on both engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func


def folded(column: Any) -> Any:
    """`column` lowercased and without accents: PostgreSQL's IMMUTABLE `referentiel_unaccent` wrapper,
    or the Python function of the same name registered on every SQLite connection (`extensions`)."""
    return func.referentiel_unaccent(func.lower(column))


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character `\\`) matching `text` anywhere, with `%` and `_` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
