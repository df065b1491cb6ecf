"""A run's diff gathered type by type: exact counts, and at most MAX_STORED_ROWS rows, the most important first."""

from __future__ import annotations

from sqlalchemy import select

from portal.imports import runs
from portal.imports.merge import Outcome, Statement
from portal.imports.models import ImportRow
from portal.imports.runs import Actor, RunDiff, open_run
from portal.sources.queries import find_source


def outcomes(action: str, first_row: int, count: int) -> list[Outcome]:
    return [
        Outcome(Statement("application", (f"ZQ{row:03d}",), {}, row, "Applications", row), action)
        for row in range(first_row, first_row + count)
    ]


def test_rows_of_a_later_type_push_out_less_important_ones_and_the_counts_stay_exact(session, monkeypatch):
    monkeypatch.setattr(runs, "MAX_STORED_ROWS", 4)
    run = open_run(session, find_source(session, "workbook"), "upload", Actor("someone"), mode="dry_run")
    diff = RunDiff(session, run, everything=True)

    diff.add(outcomes("create", 1, 5))  # a first sheet: only the first four creations fit
    diff.add(outcomes("update", 10, 1) + outcomes("error", 20, 2) + outcomes("unchanged", 30, 3))
    diff.finish()

    stored = session.scalars(select(ImportRow).where(ImportRow.run_id == run.id).order_by(ImportRow.position)).all()
    assert [(row.action, row.row_number) for row in stored] == [
        ("create", 1),
        ("update", 10),
        ("error", 20),
        ("error", 21),
    ]
    assert diff.counts == {"create": 5, "update": 1, "unchanged": 3, "conflict": 0, "error": 2, "missing": 0}


def test_an_apply_keeps_only_errors_and_conflicts(session):
    run = open_run(session, find_source(session, "workbook"), "upload", Actor("someone"))
    diff = RunDiff(session, run, everything=False)

    diff.add(outcomes("create", 1, 2) + outcomes("conflict", 5, 1) + outcomes("error", 9, 1))
    diff.finish()

    stored = session.scalars(select(ImportRow.action).where(ImportRow.run_id == run.id).order_by(ImportRow.position))
    assert list(stored) == ["conflict", "error"]
