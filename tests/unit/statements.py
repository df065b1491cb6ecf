"""The SQL statements a request runs: page tests assert their count does not grow with rows (no N+1), and
query tests that a filter reads through an index rather than the whole table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Executable, event, text
from sqlalchemy.orm import Session


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


def reads_through_an_index(session: Session, statement: Executable, table: str) -> bool:
    """Whether the database can run `statement` without reading the whole of `table`.

    Test tables are tiny, so PostgreSQL's planner would rightly read them whole: it is told to avoid that
    whenever another way exists, and the plan shows whether one did. SQLite plans by the indexes alone."""
    dialect = session.get_bind().dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    if dialect.name == "postgresql":
        savepoint = session.begin_nested()  # rolled back: the setting ends with it
        try:
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
        finally:
            savepoint.rollback()
        return f"Seq Scan on {table}" not in plan
    plan = "\n".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    return f"SCAN {table}" not in plan
