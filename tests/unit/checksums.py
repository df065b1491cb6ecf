"""A checksum of every table, to prove that something wrote nothing: compare it before and after.

    before = table_checksums(session)
    ... the refused upload ...
    assert table_checksums(session) == before

One digest per table (rather than one for the database), so that a failure names the table written to.
`skip` leaves out what an operation is expected to write (`"import_run"`, or one column:
`"source.last_run_at"`), so that everything else is still compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Base


def table_checksums(session: Session, skip: Iterable[str] = ()) -> dict[str, str]:
    """{table name: digest of its rows, ordered by primary key} for every table of the models but those
    skipped. Pending ORM changes are flushed first, so that what the session holds counts as written."""
    skipped = set(skip)
    session.flush()
    digests: dict[str, str] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in skipped:
            continue
        columns = [column for column in table.columns if f"{table.name}.{column.name}" not in skipped]
        digest = hashlib.sha256()
        for row in session.execute(select(*columns).order_by(*table.primary_key.columns)):
            digest.update(repr(tuple(_comparable(value) for value in row)).encode())
        digests[table.name] = digest.hexdigest()
    return digests


def _comparable(value: Any) -> Any:
    """A value whose repr depends only on its content (psycopg2 returns binary columns as memoryview)."""
    return bytes(value) if isinstance(value, memoryview) else value
