"""A gunicorn worker killed (SIGKILL, as the kernel's out-of-memory killer does) in the middle of a request: the
other worker keeps serving, gunicorn starts a replacement, and what the killed request was writing is not applied.

The request killed is a push, caught in the middle of its write (`writes.py`); the worker serving it is the process
holding the client end of the database connection PostgreSQL shows waiting. Three clients read meanwhile.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import Engine

from tests.faults.conftest import HTTP_TIMEOUT_S, Referential, bearer
from tests.faults.load import Call, Load, durations, statuses
from tests.faults.servers import Cluster, Portal, connected_to, process_using_port
from tests.faults.writes import (
    Batch,
    checksums,
    runs_with_key,
    session_ended,
    waiting_write,
    writes_to_source_records_wait,
)
from tests.portal_client import wait_for

pytestmark = pytest.mark.faults

CLIENTS = 3
# Reads after the replacement is ready, all of which must succeed.
AFTER_S = 1.0
REPLACEMENT_TIMEOUT_S = 30


def new_workers(portal: Portal, workers: set[int]) -> set[int]:
    """The workers gunicorn started since `workers` were its workers (waits for one)."""
    wait_for(lambda: portal.worker_pids() - workers, REPLACEMENT_TIMEOUT_S, "a replacement worker")
    return portal.worker_pids() - workers


def test_a_worker_killed_mid_request_leaves_the_other_serving_and_is_replaced(
    portal: Portal, cluster: Cluster, engine: Engine, referential: Referential, figures: list[str]
) -> None:
    trigram = referential.trigrams[1]
    token = bearer(referential.read_token)
    calls = [
        Call("JSON search", f"/api/v1/applications/search?q={trigram.lower()}", headers=token),
        Call("JSON detail", f"/api/v1/applications/{trigram}", headers=token),
    ]
    batch = Batch.of_new_applications([f"KIL{number:03d}" for number in range(30)])
    before = checksums(engine)
    workers = portal.worker_pids()

    with Load(portal.url, calls, CLIENTS) as load, ThreadPoolExecutor(1) as pool:
        with writes_to_source_records_wait(engine):
            pushing = pool.submit(batch.push, portal.url, referential.ingest_token)
            wait_for(
                lambda: waiting_write(engine) or pushing.done(), HTTP_TIMEOUT_S, "the push waiting for source_record"
            )
            caught = waiting_write(engine)
            assert caught is not None, f"the push was answered before it reached its records: {pushing.result()!r}"
            victim = process_using_port(workers, caught.client_port)
            assert victim is not None, f"no worker holds the database connection of port {caught.client_port}"
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            pushed = pushing.exception(HTTP_TIMEOUT_S)  # the request's, if it raised (None if it was answered)
        # Once the lock is gone the orphaned session finds its client gone, and ends: its transaction never commits.
        wait_for(lambda: session_ended(engine, caught.pid), HTTP_TIMEOUT_S, "the killed worker's session ending")
        [replacement] = new_workers(portal, workers)
        # Ready once its application is loaded: creating it opens its first connection to the database.
        wait_for(lambda: connected_to(replacement, cluster.port), REPLACEMENT_TIMEOUT_S, "the replacement ready")
        ready_at = time.monotonic()
        time.sleep(AFTER_S)

    during = load.between(killed, ready_at)
    after = load.between(ready_at, float("inf"))
    failed = [answer.describe() for answer in load.answers if answer.status != 200]
    figures.append(f"SIGKILL to the worker serving a push of {len(batch.records)} records; {CLIENTS} clients reading")
    figures.append(f"the pusher: {pushed!r}")
    figures.append(f"replacement worker ready {ready_at - killed:.2f} s after the kill")
    figures.append(f"until then: {len(during)} reads, {statuses(during)}; {durations(during)}")
    figures.append(f"after: {len(after)} reads, {statuses(after)}; {durations(after)}")

    assert caught.written, "the push was killed before it wrote anything"
    assert isinstance(pushed, requests.ConnectionError), f"the killed request was answered: {pushed!r}"
    assert not failed, "reads that failed while a worker was killed:\n" + "\n".join(failed)
    assert during and after
    assert portal.worker_pids() == workers - {victim} | {replacement}
    assert checksums(engine) == before
    assert runs_with_key(engine, batch.key) == 0
    replayed = batch.push(portal.url, referential.ingest_token)
    assert replayed.status_code == 200 and replayed.json()["counts"]["create"] == len(batch.records), replayed.text
