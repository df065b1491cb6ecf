"""The SQL statements a request runs: page tests assert their count does not grow with rows (no N+1), and
query tests that a filter reads through an index rather than the whole table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def reads_through_an_index(session: Session, statement: Executable, table: str, by: tuple[str, ...]) -> bool:
    """Whether the database finds the rows of `table` that `statement` wants through indexes searched by
    (one of) the columns `by`, rather than by reading the whole table, or a whole index of it.

    Test tables are tiny, so PostgreSQL's planner would rightly read them whole: it is told to avoid that
    whenever another way exists, and the plan shows whether one did. SQLite plans by the indexes alone."""
    searches = _index_searches(session, statement, table)
    return bool(searches) and all(any(column in search for column in by) for search in searches)


def _index_searches(session: Session, statement: Executable, table: str) -> list[str]:
    """The conditions each index search of `table` uses in the plan of `statement` ("" for a whole scan)."""
    dialect = session.get_bind().dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    if dialect.name != "postgresql":
        plan = [row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
        return [line if line.startswith("SEARCH") else "" for line in plan if line.split()[1:2] == [table]]
    savepoint = session.begin_nested()  # rolled back: the setting ends with it
    try:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = session.scalar(text(f"EXPLAIN (FORMAT JSON) {compiled}"))
    finally:
        savepoint.rollback()
    return list(_searches_of(plan[0]["Plan"], table))


def _searches_of(node: dict[str, Any], table: str) -> Iterator[str]:
    if node.get("Relation Name") == table:
        if node["Node Type"] == "Seq Scan":
            yield ""
        elif "Index Cond" in node:
            yield node["Index Cond"]
        else:  # a bitmap heap scan: the index searches are below it
            yield from (search for child in node["Plans"] for search in _bitmap_searches(child))
        return
    for child in node.get("Plans", ()):
        yield from _searches_of(child, table)


def _bitmap_searches(node: dict[str, Any]) -> Iterator[str]:
    if node["Node Type"] == "Bitmap Index Scan":
        yield node.get("Index Cond", "")
    for child in node.get("Plans", ()):
        yield from _bitmap_searches(child)
