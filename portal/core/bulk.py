"""Writing many rows at once, as fast as each engine allows: the import writes hundreds of thousands.

- `insert_rows`: PostgreSQL's COPY when no ids are needed back (several times faster than INSERT),
  multi-row INSERTs otherwise; rows are grouped by the columns they set, because one statement
  can only set one list of columns.
- `update_rows`: one UPDATE per group of rows setting the same columns, executed for many rows at once.
- `writing_behind`: within it, the COPYs go to the server from a thread of their own while the caller
  prepares the next rows.
- `reserving_ids`: the ids of many rows inserted in several calls, taken from the sequence at once.

Core statements on the tables, not the ORM: no object is built per row. Column defaults (such as
`created_at`) are applied by SQLAlchemy for INSERTs and filled in here for COPY.
"""

from __future__ import annotations

import io
import queue
import re
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Table, bindparam, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.core.models import Base

CHUNK = 1000
# Below this many rows, COPY's set-up is not worth it.
COPY_THRESHOLD = 200
# Characters handed to COPY at a time: large enough to keep the server busy, small enough to overlap.
COPY_READ_SIZE = 1 << 16
# Characters of one COPY handed to the writer thread (`writing_behind`).
COPY_BATCH_SIZE = 4 << 20


def _groups(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Rows grouped by the columns they set. Rows built by the same code list their columns in the same
    order, so the columns are not sorted: rows setting the same ones in another order just make another group."""
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row)].append(row)
    yield from grouped.values()


def table_of(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def insert_rows(
    session: Session,
    model: type[Base],
    rows: list[dict[str, Any]],
    returning: str | None = None,
    shared: dict[str, Any] | None = None,
) -> list[Any]:
    """Insert `rows` into `model`'s table; with `returning`, that column's value for each row, in order.

    `shared` holds values every row has (the run, the source, the time): COPY formats them once.
    """
    table = table_of(model)
    if not rows:
        return []
    if returning is None and len(rows) >= COPY_THRESHOLD and session.get_bind().dialect.name == "postgresql":
        for group in _groups(rows):
            _copy(session, table, group, shared or {})
        return []
    if shared:
        rows = [{**shared, **row} for row in rows]
    copied = len(rows) >= COPY_THRESHOLD or table.name in session.info.get(_IdReserve.KEY, {})
    if returning == "id" and copied and session.get_bind().dialect.name == "postgresql":
        # Take the ids from the table's sequence first, then COPY the rows with them.
        ids = _next_ids(session, table, len(rows))
        rows = [{**row, "id": id_} for row, id_ in zip(rows, ids, strict=True)]
        for group in _groups(rows):
            _copy(session, table, group, {})
        return ids
    if returning is not None:
        # Every row must set the same columns so that the ids come back in order.
        columns = set().union(*rows)
        rows = [{column: row.get(column) for column in columns} for row in rows]
        statement = table.insert().returning(table.c[returning], sort_by_parameter_order=True)
        found: list[Any] = []
        for start in range(0, len(rows), CHUNK):
            found.extend(session.execute(statement, rows[start : start + CHUNK]).scalars())
        return found
    for group in _groups(rows):
        for start in range(0, len(group), CHUNK):
            session.execute(table.insert(), group[start : start + CHUNK])
    return []


@dataclass
class _IdReserve:
    """Ids taken ahead from a table's sequence (`reserving_ids`), and the rows still expected to use them."""

    KEY = "id_reserves"  # in `session.info`: the reserves by table name

    expected: int
    ids: deque[int] = field(default_factory=deque)


@contextmanager
def reserving_ids(session: Session, model: type[Base], count: int) -> Iterator[None]:
    """Within this block, about `count` rows are inserted into `model`'s table by several `insert_rows(...,
    returning="id")`: the first takes the ids of them all from the sequence, in one statement (PostgreSQL).

    Within `writing_behind`, each statement waits for the COPYs queued before it, and the server then waits
    for Python to prepare the next ones: a statement per chunk of rows left it idle a second in each first
    import. Ids left over are gaps in the sequence, as after any rollback; if no row is inserted, none is taken.
    """
    reserves: dict[str, _IdReserve] = session.info.setdefault(_IdReserve.KEY, {})
    name = table_of(model).name
    reserves[name] = _IdReserve(count)
    try:
        yield
    finally:
        del reserves[name]


def _next_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` new ids of `table`: from its reserve (`reserving_ids`) if it has one, else from its sequence."""
    reserve: _IdReserve | None = session.info.get(_IdReserve.KEY, {}).get(table.name)
    if reserve is None:
        return _take_ids(session, table, count)
    missing = max(count, reserve.expected) - len(reserve.ids)
    if missing > 0:
        reserve.ids.extend(_take_ids(session, table, missing))
    reserve.expected = max(reserve.expected - count, 0)
    return [reserve.ids.popleft() for _ in range(count)]


def _take_ids(session: Session, table: Table, count: int) -> list[int]:
    sequence = session.execute(text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}).scalar_one()
    statement = text("SELECT nextval(:sequence) FROM generate_series(1, :count)")
    return list(session.execute(statement, {"sequence": sequence, "count": count}).scalars())


def update_rows(session: Session, model: type[Base], rows: list[dict[str, Any]], key: str = "id") -> None:
    """Update each row of `model`'s table found by `key`, setting its other entries."""
    table = table_of(model)
    for group in _groups(rows):
        columns = [name for name in group[0] if name != key]
        statement = (
            table.update()
            .where(table.c[key] == bindparam(f"match_{key}"))
            .values({name: bindparam(name) for name in columns})
        )
        parameters = [{**{name: row[name] for name in columns}, f"match_{key}": row[key]} for row in group]
        for start in range(0, len(parameters), CHUNK):
            session.execute(statement, parameters[start : start + CHUNK])


def _copy(session: Session, table: Table, rows: list[dict[str, Any]], shared: dict[str, Any]) -> None:
    """COPY rows into a PostgreSQL table, in the transaction of the session; `shared` values go in every row."""
    names = list(rows[0])
    fixed_values = {name: value for name, value in shared.items() if name not in names}
    # A default such as `created_at` is the same for every row of one COPY, as for one INSERT.
    for column in table.columns:
        taken = column.name in names or column.name in fixed_values
        if not taken and column.default is not None and column.default.is_callable:
            fixed_values[column.name] = column.default.arg(None)  # type: ignore[attr-defined]  # takes a context
    converters = {column.name: _copy_json if isinstance(column.type, JSON) else _copy_text for column in table.columns}
    fixed = "".join("\t" + converters[name](value) for name, value in fixed_values.items()) + "\n"
    as_text = [converters[name] for name in names]
    lines = (
        "\t".join([convert(row[name]) for convert, name in zip(as_text, names, strict=True)]) + fixed for row in rows
    )
    column_list = ", ".join(f'"{name}"' for name in [*names, *fixed_values])
    statement = f'COPY "{table.name}" ({column_list}) FROM STDIN'
    dbapi_connection = session.connection().connection.dbapi_connection
    writer: CopyWriter | None = session.info.get(CopyWriter.KEY)
    if writer is not None:
        for batch in _batches(lines):
            writer.submit(dbapi_connection, statement, batch)
        return
    cursor = dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(statement, _CopyStream(lines), COPY_READ_SIZE)
    except Exception as error:
        raise _statement_error(error, statement, session.get_bind().dialect, dbapi_connection) from error
    finally:
        cursor.close()


def _statement_error(error: Exception, statement: str, dialect: Dialect, dbapi_connection: Any) -> Exception:
    """A driver's error in a COPY, raised as SQLAlchemy raises any statement's: callers tell a lost database
    from a refused row the same way for both (`core.errors.is_database_unavailable`)."""
    dbapi_error = dialect.loaded_dbapi.Error
    if not isinstance(error, dbapi_error):
        return error
    lost = dialect.is_disconnect(error, dbapi_connection, None)
    return DBAPIError.instance(statement, None, error, dbapi_error, connection_invalidated=lost, dialect=dialect)


def _batches(lines: Iterator[str]) -> Iterator[bytes]:
    """Lines joined into pieces of about `COPY_BATCH_SIZE` characters, one COPY each: what waits for
    the writer stays small, however many rows the caller hands over at once. Encoded here, so that the
    writer thread needs Python's lock as little as possible."""
    stream = _CopyStream(lines)
    while batch := stream.read(COPY_BATCH_SIZE):
        yield batch.encode()


class CopyWriter:
    """Runs COPYs one after the other on a thread of its own (`writing_behind`). While the server inserts
    one batch, the caller's thread prepares the next: psycopg2 lets go of Python's lock while it waits for
    the server, so Python and PostgreSQL work at the same time, on two cores.

    The first failure stops the writing: the batches still queued are dropped, and the error is raised in
    the caller's thread at its next `submit` or `wait` (its next statement on the session waits too).

    Each batch is handed to psycopg2 in one read: the writer thread takes Python's lock for each read,
    and while the caller's thread is busy it gets it only every few milliseconds (the interpreter's
    switch interval), time during which the server would wait for data."""

    KEY = "copy_writer"
    # Batches formatted ahead of the server (of `COPY_BATCH_SIZE` each): enough to keep it busy for a
    # second or so, while the caller does something else (decodes the next part of a plan).
    QUEUE_SIZE = 6

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.jobs: queue.Queue[tuple[Any, str, bytes] | None] = queue.Queue(maxsize=self.QUEUE_SIZE)
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, name="copy-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            try:
                if self.error is None:
                    dbapi_connection, statement, data = job
                    cursor = dbapi_connection.cursor()
                    try:
                        cursor.copy_expert(statement, io.BytesIO(data), len(data) + 1)
                    finally:
                        cursor.close()
            except Exception as error:  # raised in the caller's thread, by `wait`
                self.error = _statement_error(error, statement, self.dialect, dbapi_connection)
            finally:
                self.jobs.task_done()
        self.jobs.task_done()

    def submit(self, dbapi_connection: Any, statement: str, data: bytes) -> None:
        self._raise_error()
        self.jobs.put((dbapi_connection, statement, data))

    def wait(self) -> None:
        """Return once every batch submitted is written; raise the error that stopped the writing."""
        self.jobs.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self.error is not None:  # stays set: nothing more is written after a failure
            raise self.error

    def stop(self) -> None:
        self.jobs.join()
        self.jobs.put(None)
        self.thread.join()


@contextmanager
def writing_behind(session: Session) -> Iterator[None]:
    """Within this block, `insert_rows` hands its COPYs to a `CopyWriter` and returns at once (PostgreSQL;
    elsewhere nothing changes). Every other statement on the session's connection first waits for them,
    so what the caller reads back includes what it wrote; leaving the block waits for them too. The block
    must not end the session's transaction: the caller commits or rolls back after it."""
    if session.get_bind().dialect.name != "postgresql" or CopyWriter.KEY in session.info:
        yield
        return
    connection = session.connection()
    writer = session.info[CopyWriter.KEY] = CopyWriter(session.get_bind().dialect)

    def wait_for_copies(*_: Any) -> None:
        writer.wait()

    event.listen(connection, "before_cursor_execute", wait_for_copies)
    try:
        yield
        writer.wait()
    finally:
        event.remove(connection, "before_cursor_execute", wait_for_copies)
        del session.info[CopyWriter.KEY]
        writer.stop()


class _CopyStream:
    """The file COPY reads from, formatting rows only as the server asks for them: PostgreSQL inserts
    one piece while Python formats the next, on two cores at once instead of one after the other."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines

    def read(self, size: int) -> str:
        pieces: list[str] = []
        length = 0
        for line in self.lines:
            pieces.append(line)
            length += len(line)
            if length >= size:
                break
        return "".join(pieces)


# COPY's text format escapes these with a backslash; most values hold none of them.
ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def _copy_text(value: Any) -> str:
    """A value in COPY's text format: \\N for NULL, backslash escapes for tabs, newlines and backslashes."""
    if value is None:
        return "\\N"
    if type(value) is not str:
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = "t" if value else "f"
        else:
            value = str(value)
    return value.translate(ESCAPES) if NEEDS_ESCAPE.search(value) else value


def _copy_json(value: Any) -> str:
    return "\\N" if value is None else _copy_text(orjson.dumps(value).decode())
