"""The database stopped in the middle of a write: a workbook's apply, a pushed batch. Nothing is half-applied, the
import run says it failed and why, and doing it again succeeds. `writes.py` explains how the write is caught in
its middle every time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import Engine

from tests.faults.conftest import HTTP_TIMEOUT_S, Referential, is_problem
from tests.faults.servers import Cluster, Portal
from tests.faults.writes import Batch, checksums, runs_with_key, waiting_write, writes_to_source_records_wait
from tests.portal_client import RUN_TIMEOUT_S, csrf_token, import_run, run_once, upload_workbook, wait_for
from tests.unit.imports.workbooks import workbook_bytes

pytestmark = pytest.mark.faults


def upload(browser: requests.Session, portal: Portal, workbook: bytes) -> int:
    """Upload a workbook as the Imports page does; returns its run once its dry run is ready."""
    run_id = upload_workbook(browser, portal.url, "faults.xlsx", workbook)
    run_once(browser, portal.url, run_id, "ready")
    return run_id


def click_apply(browser: requests.Session, portal: Portal, run_id: int) -> None:
    form = {"csrf_token": csrf_token(browser, f"{portal.url}/imports/{run_id}")}
    answer = browser.post(f"{portal.url}/imports/{run_id}/apply", data=form, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text


def workbook(trigrams: list[str]) -> bytes:
    return workbook_bytes(
        {
            "Applications": [["Trigram", "Name", "Status"], *([t, f"Fault {t}", "build"] for t in trigrams)],
            "Environments": [
                ["Trigram", "Environment", "Name", "URL"],
                *([t, "prod", f"{t} prod", f"https://{t.lower()}.bank.example"] for t in trigrams),
            ],
        }
    )


def test_the_database_stopped_mid_apply_leaves_nothing_applied_and_the_run_failed_with_a_reason(
    portal: Portal, cluster: Cluster, engine: Engine, admin_browser: requests.Session, figures: list[str]
) -> None:
    trigrams = [f"WBK{number:03d}" for number in range(60)]
    run_id = upload(admin_browser, portal, workbook(trigrams))
    before = checksums(engine)

    with writes_to_source_records_wait(engine):
        click_apply(admin_browser, portal, run_id)
        wait_for(lambda: import_run(admin_browser, portal.url, run_id)["phase"] == "writing", RUN_TIMEOUT_S, "writing")
        wait_for(lambda: waiting_write(engine), RUN_TIMEOUT_S, "the apply waiting for source_record")
        caught = waiting_write(engine)
        cluster.stop("immediate")
    cluster.start()
    back = time.monotonic()
    failed = run_once(admin_browser, portal.url, run_id, "failed", "succeeded")
    marked = time.monotonic() - back

    assert caught is not None and "application" in caught.written, f"stopped before the apply wrote: {caught}"
    assert failed["status"] == "failed"
    assert "database" in failed["error"] and "nothing" in failed["error"], failed["error"]
    assert checksums(engine) == before
    retried = upload(admin_browser, portal, workbook(trigrams))
    click_apply(admin_browser, portal, retried)
    assert run_once(admin_browser, portal.url, retried, "succeeded", "failed")["status"] == "succeeded"
    answer = admin_browser.get(f"{portal.url}/api/v1/applications/{trigrams[-1]}", timeout=HTTP_TIMEOUT_S)
    assert answer.status_code == 200 and answer.json()["name"] == f"Fault {trigrams[-1]}"
    written = ", ".join(sorted(caught.written))
    figures.append(f"pg_ctl stop -m immediate while the apply of {len(trigrams)} applications wrote (to {written})")
    figures.append(f"run marked failed {marked:.2f} s after the database was back: {failed['error']!r}")


def test_the_database_stopped_mid_push_applies_nothing_and_the_same_batch_sent_again_succeeds(
    portal: Portal, cluster: Cluster, engine: Engine, referential: Referential, figures: list[str]
) -> None:
    batch = Batch.of_new_applications([f"PSH{number:03d}" for number in range(60)])
    before = checksums(engine)

    with ThreadPoolExecutor(1) as pool, writes_to_source_records_wait(engine):
        pushing = pool.submit(batch.push, portal.url, referential.ingest_token)
        wait_for(lambda: waiting_write(engine) or pushing.done(), HTTP_TIMEOUT_S, "the push waiting for source_record")
        assert not pushing.done(), f"the push was answered before it reached its records: {pushing.result()}"
        caught = waiting_write(engine)
        stopping = time.monotonic()
        cluster.stop("fast")
        answer = pushing.result(HTTP_TIMEOUT_S)
        answered = time.monotonic() - stopping
    cluster.start()

    assert caught is not None and "application" in caught.written, f"stopped before the push wrote: {caught}"
    assert answer.status_code == 503 and is_problem(answer), answer.text
    assert checksums(engine) == before
    assert runs_with_key(engine, batch.key) == 0
    replayed = batch.push(portal.url, referential.ingest_token)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["counts"]["create"] == len(batch.records)
    written = ", ".join(sorted(caught.written))
    figures.append(f"pg_ctl stop -m fast while a batch of {len(batch.records)} records wrote (to {written})")
    figures.append(f"the pusher got {answer.status_code} problem+json {answered:.2f} s after the stop began")
