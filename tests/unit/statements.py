"""Counting the SQL statements a request runs: page tests assert the count does not grow with rows (no N+1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, event


def count_statements(connection: Connection, action: Callable[[], Any]) -> int:
    """How many statements `connection` (the test's, which every request session shares) runs during `action`."""
    return len(statements_run(connection, action))


def statements_run(connection: Connection, action: Callable[[], Any]) -> list[str]:
    """The SQL of every statement `connection` runs during `action`."""
    executed: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        executed.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(connection, "before_cursor_execute", record)
    return executed
