"""The database stopped in the middle of a write: a workbook's apply, a pushed batch. Nothing is half-applied, the
import run says it failed and why, and doing it again succeeds. `writes.py` explains how the write is caught in
its middle every time."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from tests.faults.conftest import HTTP_TIMEOUT_S, Referential, is_problem
from tests.faults.servers import Cluster, Portal, wait_for
from tests.faults.writes import Batch, checksums, runs_with_key, waiting_write, writes_to_source_records_wait
from tests.portal_client import csrf_token
from tests.unit.imports.workbooks import workbook_bytes

pytestmark = pytest.mark.faults

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RUN_TIMEOUT_S = 30


def import_run(browser: requests.Session, portal: Portal, run_id: int) -> dict[str, Any]:
    answer = browser.get(f"{portal.url}/api/v1/imports/{run_id}", timeout=HTTP_TIMEOUT_S)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def run_once(browser: requests.Session, portal: Portal, run_id: int, *statuses: str) -> dict[str, Any]:
    """The run as the API shows it once its status is one of `statuses`."""
    found: dict[str, Any] = {}

    def reached() -> bool:
        found.update(import_run(browser, portal, run_id))
        return found["status"] in statuses

    try:
        wait_for(reached, RUN_TIMEOUT_S, f"import run {run_id} {' or '.join(statuses)}", 0.1)
    except AssertionError as error:
        raise AssertionError(f"{error}; it is {found['status']}: {found}") from None
    return found


def upload(browser: requests.Session, portal: Portal, workbook: bytes) -> int:
    """Upload a workbook as the Imports page does; returns its run once its dry run is ready."""
    form = {"source": "workbook", "csrf_token": csrf_token(browser, f"{portal.url}/imports")}
    answer = browser.post(
        f"{portal.url}/imports",
        data=form,
        files={"file": ("faults.xlsx", workbook, XLSX)},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT_S,
    )
    assert answer.status_code == 303, answer.text
    run_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    run_once(browser, portal, run_id, "ready")
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
        wait_for(lambda: import_run(admin_browser, portal, run_id)["phase"] == "writing", RUN_TIMEOUT_S, "writing")
        wait_for(lambda: waiting_write(engine), RUN_TIMEOUT_S, "the apply waiting for source_record")
        caught = waiting_write(engine)
        cluster.stop("immediate")
    cluster.start()
    back = time.monotonic()
    failed = run_once(admin_browser, portal, run_id, "failed", "succeeded")
    marked = time.monotonic() - back

    assert caught is not None and "application" in caught.written, f"stopped before the apply wrote: {caught}"
    assert failed["status"] == "failed"
    assert "database" in failed["error"] and "nothing" in failed["error"], failed["error"]
    assert checksums(engine) == before
    retried = upload(admin_browser, portal, workbook(trigrams))
    click_apply(admin_browser, portal, retried)
    assert run_once(admin_browser, portal, retried, "succeeded", "failed")["status"] == "succeeded"
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
    answers: list[requests.Response | requests.RequestException] = []

    def send() -> None:
        try:
            answers.append(batch.push(portal.url, referential.ingest_token))
        except requests.RequestException as error:
            answers.append(error)

    with writes_to_source_records_wait(engine):
        sender = threading.Thread(target=send)
        sender.start()
        wait_for(lambda: waiting_write(engine) or answers, HTTP_TIMEOUT_S, "the push waiting for source_record")
        assert not answers, f"the push was answered before it reached its records: {answers[0]}"
        caught = waiting_write(engine)
        stopping = time.monotonic()
        cluster.stop("fast")
        sender.join(HTTP_TIMEOUT_S)
        answered = time.monotonic() - stopping
    cluster.start()

    assert caught is not None and "application" in caught.written, f"stopped before the push wrote: {caught}"
    [answer] = answers
    assert isinstance(answer, requests.Response), f"the push got no answer: {answer}"
    assert answer.status_code == 503 and is_problem(answer), answer.text
    assert checksums(engine) == before
    assert runs_with_key(engine, batch.key) == 0
    replayed = batch.push(portal.url, referential.ingest_token)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["counts"]["create"] == len(batch.records)
    written = ", ".join(sorted(caught.written))
    figures.append(f"pg_ctl stop -m fast while a batch of {len(batch.records)} records wrote (to {written})")
    figures.append(f"the pusher got {answer.status_code} problem+json {answered:.2f} s after the stop began")
