"""`flask import WORKBOOK`: the Imports page's reader and merge in a terminal, one sheet at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.applications.models import Application
from portal.environments.models import Environment
from portal.imports.cli import INTERRUPTED
from portal.imports.merge import Merge
from portal.imports.models import ImportRun
from tests.unit.imports.workbooks import workbook_bytes

APPLICATIONS = ["Trigram", "Name", "Status"]
ENVIRONMENTS = ["Trigram", "Environment", "URL"]


@pytest.fixture
def workbook(tmp_path: Path):
    def write(sheets: dict[str, list[list[str]]]) -> str:
        path = tmp_path / "stewards.xlsx"
        path.write_bytes(workbook_bytes(sheets))
        return str(path)

    return write


def trigrams(session) -> list[str]:
    session.expire_all()
    return sorted(session.scalars(select(Application.trigram).where(Application.trigram.like("ZQ%"))))


def runs(session) -> int:
    return session.scalar(select(func.count()).select_from(ImportRun))


def latest_run(session) -> ImportRun:
    session.expire_all()
    return session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(1)).one()


def test_a_dry_run_prints_the_counts_and_writes_nothing(flask, session, workbook):
    path = workbook({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production"], ["ZQB", "Zebu", "build"]]})
    before = runs(session)

    result = flask("import", path)

    assert result.exit_code == 0, result.output
    assert "2 create, 0 update, 0 unchanged, 0 conflict, 0 error, 0 missing" in result.output
    assert "Dry run: nothing was written. Add --apply to commit." in result.output
    assert (trigrams(session), runs(session)) == ([], before)


def test_apply_writes_every_sheet_and_says_which_run(flask, session, workbook):
    path = workbook(
        {
            "Applications": [APPLICATIONS, ["ZQA", "Zebra", "production"]],
            "Environments": [ENVIRONMENTS, ["ZQA", "prod", "https://zqa.bank.example"]],
        }
    )

    result = flask("import", path, "--apply")

    assert result.exit_code == 0, result.output
    run = latest_run(session)
    assert "2 create" in result.output and f"Applied as import run {run.id}: 2 values changed." in result.output
    assert trigrams(session) == ["ZQA"]
    url = select(Environment.url).join(Environment.application).where(Application.trigram == "ZQA")
    assert session.scalar(url) == "https://zqa.bank.example"
    # Listed on the Imports page as an upload's apply is.
    assert (run.status, run.mode, run.kind, run.actor, run.filename) == (
        "succeeded",
        "apply",
        "upload",
        "cli",
        "stewards.xlsx",
    )
    assert (run.counts["create"], run.changes_written, run.phase, run.error) == (2, 2, None, None)


def test_an_error_in_a_later_sheet_applies_nothing_and_lists_the_row(flask, session, workbook, login_as):
    path = workbook(
        {
            "Applications": [APPLICATIONS, ["ZQA", "Zebra", "production"]],
            "Environments": [ENVIRONMENTS, ["ZQA", "prod", "https://zqa.bank.example"], ["ZQX", "prod", None]],
        }
    )

    result = flask("import", path, "--apply")

    assert result.exit_code == 1
    # The applications were planned (and written) before the environments showed the error: all rolled back.
    assert "2 create, 0 update, 0 unchanged, 0 conflict, 1 error, 0 missing" in result.output
    assert "Environments row 3, Trigram 'ZQX': unknown application ZQX" in result.stderr
    run = latest_run(session)
    assert (
        f"Nothing was applied (import run {run.id}): fix the errors, or add --partial to apply the valid rows."
        in result.stderr
    )
    assert trigrams(session) == []
    # The run stays on the Imports page, failed, with what it found.
    assert (run.status, run.error) == ("failed", "1 record has errors; nothing was applied")
    assert (run.counts["create"], run.counts["error"], run.changes_written) == (2, 1, 0)
    steward = login_as("steward")
    listed, shown = steward.get("/imports").get_data(as_text=True), steward.get(f"/imports/{run.id}")
    assert f'href="/imports/{run.id}"' in listed and "stewards.xlsx" in listed
    assert shown.status_code == 200
    assert "1 record has errors; nothing was applied" in shown.get_data(as_text=True)


def test_partial_applies_the_valid_rows(flask, session, workbook):
    path = workbook({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production"], ["ZQB", "Zebu", "dancing"]]})

    result = flask("import", path, "--apply", "--partial")

    assert result.exit_code == 0, result.output
    assert "1 create" in result.output and "1 error" in result.output
    assert "Applications row 3, Status 'dancing'" in result.stderr
    assert trigrams(session) == ["ZQA"]


def test_a_file_that_is_not_a_workbook_is_refused_with_the_reason(flask, session, tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_text("Trigram;Name\nZQA;Zebra\n", encoding="utf-8")
    before = runs(session)

    result = flask("import", str(path), "--apply")

    assert result.exit_code == 1
    assert "export.xlsx: This file is not an Excel workbook (.xlsx): it looks like a text (CSV) file." in result.stderr
    assert (trigrams(session), runs(session)) == ([], before)


def test_a_sheet_without_its_key_column_is_refused_when_its_turn_comes_and_nothing_is_written(flask, session, workbook):
    path = workbook(
        {
            "Applications": [APPLICATIONS, ["ZQA", "Zebra", "production"]],
            "Environments": [["Name", "URL"], ["prod", "https://zqa.bank.example"]],
        }
    )
    before = runs(session)

    result = flask("import", path, "--apply")

    assert result.exit_code == 1
    run = latest_run(session)
    assert f"Import run {run.id} failed. stewards.xlsx: Sheet 'Environments': no header row" in result.stderr
    assert (trigrams(session), runs(session)) == ([], before + 1)
    assert run.status == "failed" and run.error.startswith("Sheet 'Environments': no header row with the required")


def test_a_dry_run_refused_when_a_sheet_comes_leaves_no_run(flask, session, workbook):
    path = workbook({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production"]], "Environments": [["URL"]]})
    before = runs(session)

    result = flask("import", path)

    assert result.exit_code == 1
    assert "stewards.xlsx: Sheet 'Environments': no header row with the required columns" in result.stderr
    assert runs(session) == before


def test_an_unexpected_failure_applies_nothing_and_the_run_says_so(flask, session, workbook, monkeypatch, caplog):
    def broken(self):
        raise RuntimeError("the search index is broken")

    # Every sheet is written by then: the failure must roll all of it back.
    monkeypatch.setattr(Merge, "finish_apply", broken)
    path = workbook({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production"]]})

    result = flask("import", path, "--apply")

    assert result.exit_code == 1
    run = latest_run(session)
    reason = "Unexpected error (RuntimeError); nothing was applied."
    assert f"Import run {run.id} failed. {reason}" in result.stderr
    assert (run.status, run.error, trigrams(session)) == ("failed", reason, [])
    assert "the search index is broken" in caplog.text  # the operator's log has the whole story


def test_ctrl_c_during_an_apply_applies_nothing_and_the_run_says_so(flask, session, workbook, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Merge, "finish_apply", interrupted)
    path = workbook({"Applications": [APPLICATIONS, ["ZQA", "Zebra", "production"]]})

    result = flask("import", path, "--apply")

    assert result.exit_code == 1 and "Aborted!" in result.output
    run = latest_run(session)
    assert (run.status, run.error, trigrams(session)) == ("failed", INTERRUPTED, [])
