"""The dry run's plan, kept on its run: the apply writes it as reviewed unless the referential changed since."""

from __future__ import annotations

import io
from dataclasses import asdict

import pytest
from sqlalchemy import select

from portal.applications.models import Application
from portal.conflicts.models import Conflict
from portal.imports import plans
from portal.imports.merge import Merge, Statement
from portal.imports.models import ImportRun
from portal.imports.plans import PlanWriter, has_kept_plan, keep_plan, kept_plan, read_type_plans
from portal.imports.runs import Actor, open_run
from portal.sources.models import Source
from portal.sources.queries import find_source
from tests.unit.builders import make_source
from tests.unit.conftest import CSRF_TOKEN
from tests.unit.imports.runs import state
from tests.unit.imports.workbooks import workbook_bytes

APPLICATIONS = ["Trigram", "Name", "Status"]


@pytest.fixture
def steward(login_as):
    return login_as("steward")


def dry_run(steward, session, rows: list[list[str]]) -> ImportRun:
    data = workbook_bytes({"Applications": [APPLICATIONS, *rows]})
    form = {"source": "workbook", "csrf_token": CSRF_TOKEN, "file": (io.BytesIO(data), "stewards.xlsx")}
    response = steward.post("/imports", data=form, content_type="multipart/form-data")
    session.expire_all()
    return session.get(ImportRun, int(response.headers["Location"].rsplit("/", 1)[1]))


def apply(steward, session, run: ImportRun) -> ImportRun:
    steward.post(f"/imports/{run.id}/apply", data={"csrf_token": CSRF_TOKEN})
    session.expire_all()
    return session.get(ImportRun, run.id)


def name_of(session, trigram: str) -> str | None:
    return session.scalar(select(Application.name).where(Application.trigram == trigram))


def test_the_apply_writes_the_plan_the_dry_run_kept_without_reading_the_workbook_again(steward, session):
    run = dry_run(steward, session, [["ZQA", "Zebra", "production"]])
    assert has_kept_plan(session, run) and run.plan_version
    run.file_data = b"the workbook is not read again"  # the apply would refuse this file if it read it
    session.flush()

    run = apply(steward, session, run)

    assert (run.status, run.changes_written, run.counts["create"]) == ("succeeded", 1, 1)
    assert name_of(session, "ZQA") == "Zebra"
    assert (run.file_data, has_kept_plan(session, run)) == (None, False)


def test_the_apply_plans_again_when_another_source_wrote_since_the_dry_run(steward, session):
    run = dry_run(steward, session, [["ZQA", "Zebra", "production"]])
    # Meanwhile an editor creates the same application: the kept plan (create ZQA) no longer holds.
    state(session, find_source(session, "manual"), "application", ("ZQA",), name="Zèbre", status="build")

    run = apply(steward, session, run)

    assert run.status == "succeeded", run.error
    assert name_of(session, "ZQA") == "Zèbre"  # manual edits win over workbooks
    assert run.counts["conflict"] == 1  # the row, with two fields in conflict: name and status
    assert set(session.scalars(select(Conflict.field))) == {"name", "status"}


def test_cancelling_drops_the_kept_plan(steward, session):
    run = dry_run(steward, session, [["ZQA", "Zebra", "production"]])

    steward.post(f"/imports/{run.id}/cancel", data={"csrf_token": CSRF_TOKEN})

    session.expire_all()
    assert not has_kept_plan(session, session.get(ImportRun, run.id))


def test_a_kept_plan_reads_back_as_it_was_made(session):
    workbook, nifi = find_source(session, "workbook"), make_source(session, "nifi", precedence=40)
    state(session, workbook, "application", ("ZQA",), name="Zebra", status="production")
    state(session, nifi, "application", ("ZQB",), name="Zebu", status="build")
    statements = [
        Statement("application", ("ZQA",), {"name": "Zebra II", "status": "production"}, 0),  # loses to nobody
        Statement("application", ("ZQC",), {"name": "Zorro", "status": "plan"}, 1),
        Statement("application", ("ZQB",), {"name": "Zebu", "status": "retired"}, 2),  # disagrees with nifi
    ]
    merge = Merge(session, workbook, actor="test")
    plan = merge.plan(statements, snapshot=True)
    sources = {source.id: source for source in session.scalars(select(Source))}

    pieces: list[bytes] = []
    writer = PlanWriter(pieces.append)
    for type_plan in plan.types.values():
        writer.add(type_plan)
    writer.finish()

    [read] = read_type_plans(pieces, sources)
    made = plan.types["application"]
    assert read.object_type.name == "application"
    for part in ("new_payloads", "fingerprints", "creates", "old_values", "settled", "missing", "present"):
        assert getattr(read, part) == getattr(made, part), part
    assert read.confirmed == made.confirmed
    assert {key: values for key, (_, values) in read.updates.items()} == {
        key: values for key, (_, values) in made.updates.items()
    }
    assert {key: current.id for key, (current, _) in read.updates.items()} == {
        key: current.id for key, (current, _) in made.updates.items()
    }

    def who_says_what(contested):
        return {
            key: {n: [(c.source.id, c.value, c.precedence) for c in found] for n, found in fields.items()}
            for key, fields in contested.items()
        }

    assert who_says_what(read.contested) == who_says_what(made.contested)
    assert read.contested and read.creates and read.updates
    assert {key: asdict(read.mine[key]) for key in read.mine} == {
        key: asdict(made.mine[key]) for key in made.new_payloads if key in made.mine
    }


def test_the_pieces_of_a_kept_plan_are_read_back_in_order_a_few_at_a_time(session, monkeypatch):
    monkeypatch.setattr(plans, "PIECES_READ_AHEAD", 2)
    run = open_run(session, find_source(session, "workbook"), "upload", Actor("someone"), mode="dry_run")
    pieces = [f"piece {index}".encode() for index in range(7)]
    store = keep_plan(session, run).sink
    for piece in pieces:
        store(piece)

    assert list(kept_plan(session, run)) == pieces


def test_a_kept_plan_with_errors_applies_its_valid_rows_when_the_steward_asks(steward, session):
    run = dry_run(steward, session, [["ZQA", "Zebra", "production"], ["ZQB", "Zebu", "dancing"]])
    run.file_data = b"the workbook is not read again"
    session.flush()

    steward.post(f"/imports/{run.id}/apply", data={"csrf_token": CSRF_TOKEN, "partial": "on"})

    session.expire_all()
    assert session.get(ImportRun, run.id).status == "succeeded"
    assert (name_of(session, "ZQA"), name_of(session, "ZQB")) == ("Zebra", None)


def test_a_kept_plan_is_stored_in_pieces_and_applied_from_them(steward, session, monkeypatch):
    monkeypatch.setattr(plans, "PIECE_BYTES", 1024)  # cut a plan of 1,500 rows as a large one is cut
    monkeypatch.setattr(plans, "PIECES_READ_AHEAD", 1)  # and read back a piece at a time
    rows = [[f"QAA{index:04d}", f"Application {index}", "production"] for index in range(1500)]
    run = dry_run(steward, session, rows)
    assert run.status == "ready", run.error
    assert len(list(kept_plan(session, run))) > 1
    run.file_data = b"the workbook is not read again"
    session.flush()

    run = apply(steward, session, run)

    assert (run.status, run.counts["create"]) == ("succeeded", 1500)
    assert [name_of(session, trigram) for trigram in ("QAA0000", "QAA1499")] == ["Application 0", "Application 1499"]
    assert list(kept_plan(session, run)) == []
