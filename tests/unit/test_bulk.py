"""Bulk writes (portal/core/bulk.py): COPY on PostgreSQL past a few hundred rows, INSERTs otherwise."""

from __future__ import annotations

import string
from contextlib import nullcontext

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from portal.changes.models import Change
from portal.core import bulk
from portal.core.bulk import COPY_THRESHOLD, insert_rows, reserving_ids, table_of, writing_behind
from portal.core.errors import is_database_unavailable
from portal.core.models import utcnow
from tests.databases import drop_connection, throwaway_postgresql_engine


@pytest.mark.parametrize("count", [3, COPY_THRESHOLD + 50])
def test_shared_values_go_in_every_row_and_a_row_may_set_its_own(session, count):
    now = utcnow()
    rows = [
        {"at": now, "object_type": "application", "natural_key": f"Z{n:03d}", "operation": "create"}
        for n in range(count)
    ]
    rows[0]["actor"] = "someone else"

    insert_rows(session, Change, rows, shared={"actor": "bulk-test", "field": None})

    actors = session.execute(select(Change.actor, func.count()).group_by(Change.actor).order_by(Change.actor)).all()
    assert [tuple(row) for row in actors] == [("bulk-test", count - 1), ("someone else", 1)]


def test_text_with_tabs_newlines_and_backslashes_is_written_as_given(session):
    tricky = "a\ttab, a\nnewline, a\r\nwindows line, a \\N that is not null, a back\\slash"
    rows = [
        {"at": utcnow(), "object_type": "application", "natural_key": f"Z{n:03d}", "operation": "create"}
        for n in range(COPY_THRESHOLD)
    ]

    insert_rows(session, Change, rows, shared={"actor": "bulk-test", "new_value": tricky})

    assert set(session.scalars(select(Change.new_value))) == {tricky}


def _changes(count: int, prefix: str = "Z") -> list[dict]:
    return [
        {"at": utcnow(), "object_type": "application", "natural_key": f"{prefix}{n:04d}", "operation": "create"}
        for n in range(count)
    ]


def test_rows_written_behind_are_read_back_by_the_next_statement(session):
    prefixes = string.ascii_uppercase[: bulk.CopyWriter.QUEUE_SIZE + 2]  # more than it queues: submitting waits
    with writing_behind(session):
        for prefix in prefixes:
            insert_rows(session, Change, _changes(COPY_THRESHOLD, prefix), shared={"actor": "behind"})
        written = session.scalar(select(func.count()).where(Change.actor == "behind"))

    assert written == len(prefixes) * COPY_THRESHOLD


def test_rows_written_behind_in_several_copies_are_all_written(session, monkeypatch):
    monkeypatch.setattr(bulk, "COPY_BATCH_SIZE", 1000)  # a few dozen rows per COPY

    with writing_behind(session):
        insert_rows(session, Change, _changes(3 * COPY_THRESHOLD), shared={"actor": "behind"})
    written = session.scalars(select(Change.natural_key).where(Change.actor == "behind")).all()

    assert sorted(written) == [f"Z{n:04d}" for n in range(3 * COPY_THRESHOLD)]


@pytest.mark.parametrize("behind", [False, True], ids=["directly", "behind"])
def test_ids_reserved_for_several_inserts_are_taken_from_the_sequence_at_once(session, behind):
    chunks = [_changes(COPY_THRESHOLD, "A"), _changes(COPY_THRESHOLD, "B"), _changes(3, "C")]  # the last one small
    statements: list[str] = []
    connection = session.connection()

    def seen(_connection, _cursor, statement, *_):
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", seen)
    try:
        with (
            writing_behind(session) if behind else nullcontext(),
            reserving_ids(session, Change, 2 * COPY_THRESHOLD + 3),
        ):
            ids = [id_ for rows in chunks for id_ in insert_rows(session, Change, rows, "id", {"actor": "reserved"})]
    finally:
        event.remove(connection, "before_cursor_execute", seen)

    keys = dict(session.execute(select(Change.id, Change.natural_key).where(Change.actor == "reserved")).all())
    assert [keys[id_] for id_ in ids] == [row["natural_key"] for rows in chunks for row in rows]
    if session.get_bind().dialect.name == "postgresql":
        # The first chunk takes every id; the others, even the one too small for COPY, take theirs from the reserve.
        assert sum("nextval" in statement for statement in statements) == 1


def test_a_reserve_no_insert_uses_takes_no_id(session):
    (before,) = insert_rows(session, Change, _changes(1, "A"), "id", {"actor": "reserved"})
    with reserving_ids(session, Change, 1000):
        pass
    (after,) = insert_rows(session, Change, _changes(1, "B"), "id", {"actor": "reserved"})

    assert after == before + 1


@pytest.mark.parametrize("behind", [False, True], ids=["directly", "behind"])
def test_a_refused_row_raises_the_error_any_statement_would(session, behind):
    refused = {**_changes(1)[0], "natural_key": "Z0000", "operation": "destroy"}  # not an operation the log knows

    with (
        pytest.raises(IntegrityError, match="ck_change_operation"),
        writing_behind(session) if behind else nullcontext(),
    ):
        insert_rows(session, Change, [*_changes(COPY_THRESHOLD, "A"), refused], shared={"actor": "behind"})
        insert_rows(session, Change, _changes(COPY_THRESHOLD, "B"), shared={"actor": "behind"})
        session.execute(select(1))


def test_a_connection_lost_while_writing_behind_means_the_database_is_unavailable():
    """On a PostgreSQL database of its own, whichever engine the suite runs on: only a server drops connections."""
    with throwaway_postgresql_engine() as engine:
        table_of(Change).create(engine)
        session = Session(engine)
        with pytest.raises(DBAPIError) as raised, writing_behind(session):
            drop_connection(session)
            insert_rows(session, Change, _changes(COPY_THRESHOLD), shared={"actor": "behind"})
        session.invalidate()  # its connection is gone: nothing to roll back

    assert is_database_unavailable(raised.value)
