"""The Sources page and API: precedence, freshness, and admins declaring and tuning sources."""

from __future__ import annotations

from sqlalchemy import select

from portal.applications.models import Application
from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.imports.models import ImportRun
from portal.sources.models import Source
from tests.unit.builders import make_source
from tests.unit.conftest import CSRF_TOKEN
from tests.unit.imports.runs import state


def test_every_database_has_the_manual_and_workbook_sources(anonymous_client, login_as):
    names = [source["name"] for source in login_as("reader").get("/api/v1/sources").json["results"]]

    assert names[:1] == ["manual"] and "workbook" in names


def test_the_page_shows_precedence_records_and_freshness(login_as, session):
    cmdb = make_source(session, "cmdb", precedence=70, field_precedence={"application.status": 90})
    state(session, cmdb, "application", ("ZQA",), name="Zebra")

    html = login_as("steward").get("/sources").get_data(as_text=True)

    assert "cmdb" in html and "application.status: 90" in html and "(today)" in html
    detail = login_as("reader").get("/api/v1/sources/cmdb").json
    assert (detail["records"], detail["missing"], detail["precedence"]) == (1, 0, 70)
    assert detail["last_success_at"] is not None


def test_an_admin_declares_a_source(login_as, session):
    response = login_as("admin").post(
        "/sources",
        data={"csrf_token": CSRF_TOKEN, "name": "CMDB", "kind": "push", "precedence": "60", "description": "The CMDB"},
    )

    assert response.status_code == 303
    source = session.scalars(select(Source).where(Source.name == "cmdb")).one()
    assert (source.kind, source.precedence, source.description) == ("push", 60, "The CMDB")


def test_a_bad_declaration_is_refused_with_its_reason(login_as, session):
    admin = login_as("admin")
    cases = [
        ({"name": "bad name!", "kind": "push", "precedence": "50"}, "a source name is"),
        ({"name": "workbook", "kind": "push", "precedence": "50"}, "exists already"),
        ({"name": "x", "kind": "manual", "precedence": "50"}, "choose the kind"),
        ({"name": "x", "kind": "push", "precedence": "high"}, "whole number"),
        ({"name": "x", "kind": "push", "precedence": "5000"}, "between 0 and 1000"),
        ({"name": "x", "kind": "push", "precedence": "5", "field_precedence": "application.colour = 9"}, "known field"),
        ({"name": "x", "kind": "api", "precedence": "5", "configuration": "{not json"}, "not valid JSON"),
    ]
    for form, message in cases:
        response = admin.post("/sources", data={"csrf_token": CSRF_TOKEN, **form})
        assert response.status_code == 400, form
        assert message in response.get_data(as_text=True), form
    assert session.scalars(select(Source.name).where(Source.name == "x")).all() == []


def test_an_admin_tunes_precedence_per_field(login_as, session):
    make_source(session, "cmdb")

    response = login_as("admin").post(
        "/sources/cmdb",
        data={"csrf_token": CSRF_TOKEN, "precedence": "30", "field_precedence": "application.status = 95\n\n"},
    )

    assert response.status_code == 303
    source = session.scalars(select(Source).where(Source.name == "cmdb")).one()
    session.refresh(source)
    assert (source.precedence, source.field_precedence) == (30, {"application.status": 95})


def test_a_bad_setting_changes_nothing(login_as, session):
    source = make_source(session, "cmdb", precedence=40)

    response = login_as("admin").post(
        "/sources/cmdb", data={"csrf_token": CSRF_TOKEN, "precedence": "70", "field_precedence": "nonsense"}
    )

    assert response.status_code == 400
    session.refresh(source)
    assert source.precedence == 40


def test_stewards_see_the_page_but_only_admins_change_sources(login_as):
    steward = login_as("steward")

    assert steward.get("/sources").status_code == 200
    assert "Declare a source" not in steward.get("/sources").get_data(as_text=True)
    assert steward.post("/sources/workbook", data={"csrf_token": CSRF_TOKEN, "precedence": "1"}).status_code == 403


def test_a_new_precedence_changes_the_visible_values_at_once(login_as, session):
    cmdb = make_source(session, "cmdb", precedence=60)
    ldap = make_source(session, "ldap", precedence=40)
    state(session, cmdb, "application", ("ZQA",), name="Zebra", status="build")
    state(session, ldap, "application", ("ZQA",), name="Zebre")

    response = login_as("admin").post("/sources/ldap", data={"csrf_token": CSRF_TOKEN, "precedence": "70"})

    assert response.status_code == 303
    session.expire_all()
    assert session.scalar(select(Application.name).where(Application.trigram == "ZQA")) == "Zebre"
    run = session.scalars(select(ImportRun).where(ImportRun.kind == "recompute")).one()
    assert (run.source.name, run.changes_written) == ("ldap", 1)
    change = session.scalars(select(Change).where(Change.run_id == run.id)).one()
    assert (change.field, change.old_value, change.new_value) == ("name", "Zebra", "Zebre")
    conflict = session.scalars(select(Conflict)).one()
    assert conflict.status == "open" and conflict.candidates[0]["source"] == "ldap"
    assert session.get(type(ldap), ldap.id).last_success_at is not None  # its own push, not the recompute


def test_flask_sources_set_recomputes_too(app, session):
    cmdb = make_source(session, "cmdb", precedence=60)
    ldap = make_source(session, "ldap", precedence=40)
    state(session, cmdb, "application", ("ZQA",), name="Zebra")
    state(session, ldap, "application", ("ZQA",), name="Zebre")

    result = app.test_cli_runner().invoke(args=["sources", "set", "ldap", "--field", "application.name=99"])

    assert result.exit_code == 0, result.output
    assert "1 values changed" in result.output
    session.expire_all()
    assert session.scalar(select(Application.name).where(Application.trigram == "ZQA")) == "Zebre"
