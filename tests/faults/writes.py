"""Catching the portal in the middle of a write, and proving afterwards that nothing of it stayed.

To stop the database (or kill a worker) in the middle of a write every time, whatever the machine's speed, a test
holds `source_record` in SHARE mode (reads go on, writes wait): an apply or a push runs up to its first write of a
source's records, having written visible rows already, and waits there, where PostgreSQL shows it (`pg_locks`,
`pg_stat_activity`). The fault is then sure to land inside the write's transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from portal.models import Base
from tests.faults.conftest import HTTP_TIMEOUT_S, PUSH_SOURCE, bearer
from tests.unit.checksums import table_checksums

# What a failed write may change besides the referential: the import runs' own tables (the run, its diff rows, its
# kept plan), the source's "last run" time, and the token's last use.
RUN_TABLES = tuple(table.name for table in Base.metadata.sorted_tables if table.name.startswith("import_"))
BOOKKEEPING = (*RUN_TABLES, "source.last_run_at", "source.updated_at", "api_token.last_used_at")


def checksums(engine: Engine) -> dict[str, str]:
    """A digest of every table but `BOOKKEEPING`: everything a user can see of the referential."""
    with Session(engine) as session:
        return table_checksums(session, skip=BOOKKEEPING)


@contextmanager
def writes_to_source_records_wait(engine: Engine) -> Iterator[None]:
    """Hold `source_record` in SHARE mode until the block ends (or the database stops): reads go on, writes wait."""
    connection = engine.connect()
    try:
        connection.begin()
        connection.execute(text("LOCK TABLE source_record IN SHARE MODE"))
        yield
    finally:
        connection.invalidate()  # its server may be gone: never given back to the pool


@dataclass(frozen=True)
class WaitingWrite:
    """A session waiting for a lock: its server process, the client's port, the tables it has written so far."""

    pid: int
    client_port: int
    written: frozenset[str]


def waiting_write(engine: Engine) -> WaitingWrite | None:
    """The session waiting for a lock, with the tables its transaction wrote (holds in ROW EXCLUSIVE mode, which
    INSERT, UPDATE and DELETE take); None while none waits."""
    with engine.connect() as connection:
        waiting = connection.execute(
            text("SELECT pid, client_port FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        ).first()
        if waiting is None:
            return None
        written = connection.execute(
            text(
                "SELECT DISTINCT relname FROM pg_locks JOIN pg_class ON pg_class.oid = relation"
                " WHERE pid = :pid AND relkind = 'r' AND mode = 'RowExclusiveLock' AND granted"
            ),
            {"pid": waiting.pid},
        )
        return WaitingWrite(waiting.pid, waiting.client_port, frozenset(written.scalars()))


def session_ended(engine: Engine, pid: int) -> bool:
    with engine.connect() as connection:
        return (
            connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).one()[0]
            == 0
        )


def runs_with_key(engine: Engine, key: str) -> int:
    with engine.connect() as connection:
        runs = connection.execute(text("SELECT count(*) FROM import_run WHERE idempotency_key = :key"), {"key": key})
        return int(runs.scalar_one())


@dataclass(frozen=True)
class Batch:
    """A batch of records for the push source, with the Idempotency-Key a pusher would send it (and resend it) with."""

    records: list[dict[str, Any]]
    key: str

    @classmethod
    def of_new_applications(cls, trigrams: list[str]) -> Batch:
        applications = [
            {"type": "application", "trigram": t, "name": f"Pushed {t}", "status": "build"} for t in trigrams
        ]
        environments = [{"type": "environment", "trigram": t, "kind": "uat", "name": f"{t} uat"} for t in trigrams]
        return cls(applications + environments, f"faults-{secrets.token_hex(6)}")

    def push(self, portal_url: str, token: str) -> requests.Response:
        return requests.post(
            f"{portal_url}/api/v1/sources/{PUSH_SOURCE}/records",
            json=self.records,
            headers={**bearer(token), "Idempotency-Key": self.key},
            timeout=HTTP_TIMEOUT_S,
        )
