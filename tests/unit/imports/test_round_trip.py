"""The portal's xlsx export is the import format: exported, then imported unchanged, it changes nothing."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import func, select

from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.imports.models import ImportRow, ImportRun
from tests.unit.builders import add_stakeholder, make_application, make_entity, make_environment, make_person
from tests.unit.conftest import CSRF_TOKEN


def test_an_export_imported_unchanged_writes_zero_changes(login_as, session):
    entity = make_entity(session, "DSI-ETU", "Études")
    billing = make_application(
        session,
        "ZQA",
        "Zebra billing",
        description="=SUM(A1) looks like a formula; “quotes”, accents é",
        criticality="high",
        entity=entity,
        go_live_date=date(2019, 3, 1),
        end_of_support_date=date(2030, 12, 31),
        tags="payments,core ,  zebra",
        documentation_url="https://docs.bank.example/zqa",
    )
    make_application(session, "ZQB2", "Zebu", status="build")
    add_stakeholder(session, billing, make_person(session, "jdoe", "Jane Doe"), "owner")
    add_stakeholder(session, billing, make_person(session, "rsmith", "+Robert Smith"), "support")
    make_environment(session, billing, "prod", "PROD-1", url="https://zqa.bank.example", servers=("srv-zqa-01",))
    make_environment(session, billing, "uat")
    exported = login_as("reader").get("/export?q=&format=xlsx")
    assert exported.status_code == 200

    steward = login_as("steward")
    form = {"source": "workbook", "csrf_token": CSRF_TOKEN, "file": (io.BytesIO(exported.data), "export.xlsx")}
    uploaded = steward.post("/imports", data=form, content_type="multipart/form-data")
    run_id = int(uploaded.headers["Location"].rsplit("/", 1)[1])
    session.expire_all()
    run = session.get(ImportRun, run_id)
    assert run.status == "ready", run.error
    errors = session.scalars(select(ImportRow.errors).where(ImportRow.run_id == run_id)).all()
    assert {action: count for action, count in run.counts.items() if count} == {"unchanged": run.counts["unchanged"]}, (
        errors
    )
    assert run.counts["unchanged"] >= 2 + 2 + 2  # applications, stakeholders, environments

    steward.post(f"/imports/{run_id}/apply", data={"csrf_token": CSRF_TOKEN})

    session.expire_all()
    run = session.get(ImportRun, run_id)
    assert (run.status, run.changes_written) == ("succeeded", 0)
    assert session.scalar(select(func.count()).select_from(Change)) == 0
    assert session.scalar(select(func.count()).select_from(Conflict)) == 0
