"""The Imports pages: a steward uploads a workbook, reads the dry-run diff, applies or cancels it."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from portal.applications.models import Application
from portal.changes.models import Change
from portal.core.models import utcnow
from portal.imports import workbooks
from portal.imports.models import ImportPlanChunk, ImportRow, ImportRun
from portal.imports.runs import READY_KEPT_FOR, Actor, finish, open_run
from portal.imports.workbooks import fail_interrupted_runs
from portal.sources.models import SourceRecord
from portal.sources.queries import find_source
from tests.unit.builders import make_application
from tests.unit.conftest import CSRF_TOKEN
from tests.unit.imports.workbooks import workbook_bytes

APPLICATIONS = ["Trigram", "Name", "Status", "Go-live"]


def upload(client, data: bytes, filename: str = "stewards.xlsx", **fields):
    form = {"source": "workbook", "csrf_token": CSRF_TOKEN, "file": (io.BytesIO(data), filename), **fields}
    return client.post("/imports", data=form, content_type="multipart/form-data")


def run_of(response, session) -> ImportRun:
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    session.expire_all()
    return session.get(ImportRun, run_id)


@pytest.fixture
def steward(login_as):
    return login_as("steward")


def test_an_upload_is_checked_at_once_and_its_dry_run_is_ready_to_review(steward, session):
    make_application(session, "ZQB", "Old name", status="build")
    data = workbook_bytes(
        {
            "Applications": [
                APPLICATIONS,
                ["zqa ", "Zebra", "production", "15/01/2024"],
                ["ZQB", "New name", "build", None],
            ]
        }
    )

    response = upload(steward, data)

    assert response.status_code == 303
    run = run_of(response, session)
    assert (run.status, run.mode, run.counts["create"], run.counts["update"]) == ("ready", "dry_run", 1, 1)
    assert session.scalar(select(func.count()).select_from(Application).where(Application.trigram == "ZQA")) == 0
    page = steward.get(f"/imports/{run.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ready to apply" in html and "Zebra" in html and "2024-01-15" in html
    assert "<del>Old name</del>" in html and "<ins>New name</ins>" in html


def test_applying_a_ready_run_writes_the_values_and_their_audit_rows(steward, session):
    data = workbook_bytes({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production", "15/01/2024"]]})
    run = run_of(upload(steward, data), session)

    response = steward.post(f"/imports/{run.id}/apply", data={"csrf_token": CSRF_TOKEN})

    assert response.status_code == 303
    session.expire_all()
    run = session.get(ImportRun, run.id)
    assert (run.status, run.mode, run.changes_written, run.file_data) == ("succeeded", "apply", 1, None)
    assert (
        session.scalar(select(Application.go_live_date).where(Application.trigram == "ZQA")).isoformat() == "2024-01-15"
    )
    assert session.scalar(select(func.count()).select_from(Change).where(Change.run_id == run.id)) == 1


def test_cancelling_leaves_nothing(steward, session):
    data = workbook_bytes({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production", None]]})
    run = run_of(upload(steward, data), session)

    steward.post(f"/imports/{run.id}/cancel", data={"csrf_token": CSRF_TOKEN})

    session.expire_all()
    assert session.get(ImportRun, run.id).status == "cancelled"
    assert steward.post(f"/imports/{run.id}/apply", data={"csrf_token": CSRF_TOKEN}).status_code == 303
    assert session.scalar(select(func.count()).select_from(SourceRecord)) == 0
    assert session.scalar(select(func.count()).select_from(Application).where(Application.trigram == "ZQA")) == 0


def test_a_workbook_with_errors_applies_nothing_unless_the_steward_asks_for_the_valid_rows(steward, session):
    data = workbook_bytes(
        {"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production", None], ["ZQB", "Zebu", "dancing", "31/02/2024"]]}
    )
    run = run_of(upload(steward, data), session)
    assert run.counts["error"] == 1
    page = steward.get(f"/imports/{run.id}?action=error").get_data(as_text=True)
    assert "Applications row 3" in page and "is not one of" in page and "is not a real date" in page

    refused = steward.post(f"/imports/{run.id}/apply", data={"csrf_token": CSRF_TOKEN}, follow_redirects=True)
    assert "apply only the valid rows" in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(SourceRecord)) == 0

    steward.post(f"/imports/{run.id}/apply", data={"csrf_token": CSRF_TOKEN, "partial": "on"})
    trigrams = session.scalars(select(Application.trigram).where(Application.trigram.in_(["ZQA", "ZQB"]))).all()
    assert trigrams == ["ZQA"]


def test_the_error_workbook_is_downloadable_while_the_run_keeps_its_file(steward, session):
    data = workbook_bytes({"Applications": [APPLICATIONS, ["ZQB", "Zebu", "dancing", None]]})
    run = run_of(upload(steward, data), session)

    response = steward.get(f"/imports/{run.id}/errors.xlsx")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=stewards-errors.xlsx")
    assert response.data[:2] == b"PK"


def test_a_file_that_is_not_a_workbook_is_refused_on_the_page_and_writes_nothing(steward, session):
    response = upload(steward, b"trigram,name\nZQA,Zebra\n", filename="export.xlsx")

    assert response.status_code == 400
    assert "it looks like a text (CSV) file" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ImportRun)) == 0


def test_the_template_is_a_workbook(steward):
    response = steward.get("/imports/template.xlsx")

    assert response.status_code == 200 and response.data[:2] == b"PK"


def test_the_run_region_polls_itself_only_while_the_run_works(steward, session):
    data = workbook_bytes({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production", None]]})
    run = run_of(upload(steward, data), session)

    fragment = steward.get(f"/imports/{run.id}", headers={"HX-Request": "true"})

    assert "HX-Request" in fragment.headers["Vary"]
    html = fragment.get_data(as_text=True)
    assert 'id="import-run"' in html and "<html" not in html
    assert "hx-trigger" not in html  # ready: nothing more to wait for
    run.status = "running"
    session.flush()
    working = steward.get(f"/imports/{run.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="load delay:1s"' in working and "<progress" in working


def test_readers_cannot_see_imports(login_as):
    assert login_as("reader").get("/imports").status_code == 403


def test_the_diff_rows_of_a_dry_run_are_kept_and_the_applied_run_keeps_only_problems(steward, session):
    data = workbook_bytes({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production", None]]})
    run = run_of(upload(steward, data), session)
    rows = session.scalars(select(ImportRow.action).where(ImportRow.run_id == run.id)).all()

    assert rows == ["create"]


def stale_run(session, status: str = "applying") -> ImportRun:
    """A run whose heartbeat stopped ten minutes ago, as a process killed mid-import leaves it."""
    run = open_run(session, find_source(session, "workbook"), "upload", Actor("someone"), mode="dry_run")
    run.status = status
    run.heartbeat_at = utcnow() - timedelta(minutes=10)
    session.flush()
    return run


def test_a_run_whose_process_died_is_marked_failed_when_the_page_is_shown(steward, session):
    run = stale_run(session)

    steward.get("/imports")

    session.expire_all()
    if session.get_bind().dialect.name == "sqlite":
        # No heartbeat is written there while a run works: a long run would look dead. The next start judges it.
        assert (run.status, run.error) == ("applying", None)
        return
    assert run.status == "failed" and "nothing of it was applied" in run.error


def test_a_run_whose_process_died_is_marked_failed_at_the_next_start(app, session):
    run = stale_run(session, "running")
    alive = stale_run(session, "running")
    alive.heartbeat_at = utcnow()
    session.flush()

    fail_interrupted_runs(app)

    session.expire_all()
    assert (run.status, alive.status) == ("failed", "running")


def kept(session, run: ImportRun) -> tuple[bool, int]:
    """Whether the run still holds its workbook, and how many pieces of plan it keeps."""
    session.expire_all()
    has_file = session.scalar(select(ImportRun.file_data.is_not(None)).where(ImportRun.id == run.id))
    pieces = session.scalar(select(func.count()).select_from(ImportPlanChunk).where(ImportPlanChunk.run_id == run.id))
    return has_file, pieces


def test_a_dry_run_left_unapplied_for_a_week_is_cancelled_and_lets_go_of_its_workbook(steward, session):
    data = workbook_bytes({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production", None]]})
    forgotten, recent = run_of(upload(steward, data), session), run_of(upload(steward, data), session)
    assert kept(session, forgotten) == (True, 1)
    forgotten.created_at = utcnow() - READY_KEPT_FOR - timedelta(minutes=1)
    session.flush()

    steward.get("/imports")

    assert kept(session, forgotten) == (False, 0) and kept(session, recent) == (True, 1)
    assert (forgotten.status, recent.status) == ("cancelled", "ready")
    assert "Not applied within 7 days" in forgotten.error
    steward.post(f"/imports/{forgotten.id}/apply", data={"csrf_token": CSRF_TOKEN})
    assert session.scalar(select(func.count()).select_from(Application).where(Application.trigram == "ZQA")) == 0


def test_a_run_whose_process_died_lets_go_of_its_workbook_and_plan(steward, session):
    data = workbook_bytes({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production", None]]})
    run = run_of(upload(steward, data), session)
    run.status, run.heartbeat_at = "applying", utcnow() - timedelta(minutes=10)
    session.flush()

    steward.get("/imports")
    if session.get_bind().dialect.name == "sqlite":  # judged at the next start there (see above)
        fail_interrupted_runs(steward.application)

    assert kept(session, run) == (False, 0) and run.status == "failed"


def test_a_step_that_lost_the_database_marks_its_run_failed_once_the_database_is_back(app, session, monkeypatch):
    """The process that ran the step records the failure itself, without waiting for the run to go stale."""
    run = open_run(session, find_source(session, "workbook"), "upload", Actor("someone"), mode="dry_run")
    session.flush()
    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True)
    refused = OperationalError(None, None, Exception("connection refused"))  # no statement: while connecting

    def step(*_args):
        raise lost

    attempts: list[str] = []

    def finish_once_the_database_is_back(session, run, status, error=None):
        attempts.append(status)
        if len(attempts) < 3:
            raise refused
        finish(session, run, status, error)

    monkeypatch.setitem(workbooks.STEPS, "apply", step)
    monkeypatch.setattr(workbooks, "finish", finish_once_the_database_is_back)
    monkeypatch.setattr(workbooks, "FAILURE_RETRY_INTERVAL", 0)

    workbooks.run_step(app, run.id, "apply")

    session.expire_all()
    assert attempts == ["failed", "failed", "failed"]
    assert (run.status, run.error) == ("failed", workbooks.DATABASE_LOST)
