"""The database stopped in the middle of a write: a workbook's apply, a pushed batch. Nothing is half-applied, the
import run says it failed and why, and doing it again succeeds. `writes.py` explains how the write is caught in
its middle every time."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, text

from portal.imports.workbooks import DATABASE_LOST
from tests.faults.conftest import HTTP_TIMEOUT_S, Referential, is_problem
from tests.faults.servers import Cluster, Portal
from tests.faults.writes import Batch, checksums, runs_with_key, waiting_write, writes_to_source_records_wait
from tests.portal_client import (
    BIN,
    CLI_TIMEOUT_S,
    REPO_ROOT,
    RUN_TIMEOUT_S,
    csrf_token,
    import_run,
    portal_environment,
    run_once,
    upload_workbook,
    wait_for,
)
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


def test_the_database_stopped_mid_cli_import_applies_nothing_and_the_command_says_which_run_failed(
    cluster: Cluster, engine: Engine, referential: Referential, tmp_path: Path, figures: list[str]
) -> None:
    trigrams = [f"CLI{number:03d}" for number in range(60)]
    path = tmp_path / "operator.xlsx"
    path.write_bytes(workbook(trigrams))
    env = portal_environment(DATABASE_URL=referential.database_url, SECRET_KEY=referential.secret_key)
    before = checksums(engine)

    with writes_to_source_records_wait(engine):
        command = subprocess.Popen(
            [str(BIN / "flask"), "--app", "portal", "import", str(path), "--apply"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: waiting_write(engine) or command.poll() is not None, CLI_TIMEOUT_S, "the import waiting")
        assert command.poll() is None, f"the import ended before it reached its records: {command.communicate()}"
        caught = waiting_write(engine)
        listed = latest_cli_run(engine)  # recorded before anything was written
        cluster.stop("immediate")
    cluster.start()
    back = time.monotonic()
    output, errors = command.communicate(timeout=CLI_TIMEOUT_S)
    marked = time.monotonic() - back

    assert caught is not None and "application" in caught.written, f"stopped before the import wrote: {caught}"
    assert listed[1] == "applying", listed
    assert command.returncode == 1, output + errors
    assert f"Import run {listed[0]} failed. {DATABASE_LOST}" in errors, errors
    assert latest_cli_run(engine) == (listed[0], "failed", DATABASE_LOST)
    assert checksums(engine) == before
    figures.append(
        f"pg_ctl stop -m immediate while `flask import --apply` wrote (to {', '.join(sorted(caught.written))})"
    )
    figures.append(f"the command said which run failed and exited 1, {marked:.2f} s after the database was back")


def latest_cli_run(engine: Engine) -> tuple[int, str, str | None]:
    with engine.connect() as connection:
        run = connection.execute(
            text("SELECT id, status, error FROM import_run WHERE actor = 'cli' ORDER BY id DESC LIMIT 1")
        ).one()
        return run.id, run.status, run.error


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
