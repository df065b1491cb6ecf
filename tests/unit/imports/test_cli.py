"""`flask import WORKBOOK`: the Imports page's reader and merge in a terminal, one sheet at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.applications.models import Application
from portal.environments.models import Environment
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
    assert "2 create" in result.output and "Applied as import run" in result.output
    assert trigrams(session) == ["ZQA"]
    url = select(Environment.url).join(Environment.application).where(Application.trigram == "ZQA")
    assert session.scalar(url) == "https://zqa.bank.example"


def test_an_error_in_a_later_sheet_applies_nothing_and_lists_the_row(flask, session, workbook):
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
    assert "Nothing was applied: fix the errors, or add --partial to apply the valid rows." in result.stderr
    assert trigrams(session) == []


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
    assert "stewards.xlsx: Sheet 'Environments': no header row with the required columns" in result.stderr
    assert (trigrams(session), runs(session)) == ([], before)
