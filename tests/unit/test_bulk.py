"""Bulk writes (portal/core/bulk.py): COPY on PostgreSQL past a few hundred rows, INSERTs otherwise."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.changes.models import Change
from portal.core.bulk import COPY_THRESHOLD, insert_rows
from portal.core.models import utcnow


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
