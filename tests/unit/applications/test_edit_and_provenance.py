"""Editors correct an application in the portal (the manual source); every page and API says where values come from."""

from __future__ import annotations

from sqlalchemy import select

from portal.applications.models import Application
from portal.changes.models import Change
from portal.conflicts.models import Conflict
from tests.unit.builders import make_application, make_source
from tests.unit.conftest import CSRF_TOKEN
from tests.unit.imports.runs import state

FORM = {
    "name": "Zebra",
    "description": "",
    "status": "production",
    "criticality": "",
    "entity": "",
    "go_live": "",
    "end_of_support": "",
    "decommission": "",
    "tags": "",
    "documentation_url": "",
}


def edit(client, trigram: str = "ZQA", **changes):
    return client.post(f"/applications/{trigram}/edit", data={"csrf_token": CSRF_TOKEN, **FORM, **changes})


def test_the_edit_form_is_inline_for_htmx_and_a_page_otherwise(login_as, session):
    make_application(session, "ZQA", "Zebra")
    editor = login_as("editor")

    inline = editor.get("/applications/zqa/edit", headers={"HX-Request": "true"}).get_data(as_text=True)
    page = editor.get("/applications/zqa/edit").get_data(as_text=True)

    assert inline.lstrip().startswith('<section id="application-identity"') and "<html" not in inline
    assert "<html" in page and 'value="Zebra"' in page


def test_an_edit_is_a_manual_statement_with_its_audit_row(login_as, session):
    make_application(session, "ZQA", "Zebra")

    response = edit(login_as("editor"), description="Pays the zebras", criticality="high")

    assert response.status_code == 303
    application = session.scalars(select(Application).where(Application.trigram == "ZQA")).one()
    session.refresh(application)
    assert (application.description, application.criticality) == ("Pays the zebras", "high")
    changes = session.execute(select(Change.field, Change.new_value, Change.actor).where(Change.natural_key == "ZQA"))
    rows = sorted(changes)
    assert [(field, new) for field, new, _ in rows] == [("criticality", "high"), ("description", "Pays the zebras")]
    assert all(actor.startswith("test-editor-") for _, _, actor in rows)


def test_an_edit_wins_over_a_source_and_opens_a_conflict(login_as, session):
    cmdb = make_source(session, "cmdb")
    state(session, cmdb, "application", ("ZQA",), name="Zebra", status="build")

    edit(login_as("editor"), status="production")

    assert session.scalar(select(Application.status).where(Application.trigram == "ZQA")) == "production"
    conflict = session.scalars(select(Conflict)).one()
    assert [(c["source"], c["value"]) for c in conflict.candidates] == [("manual", "production"), ("cmdb", "build")]


def test_invalid_values_send_the_form_back_and_change_nothing(login_as, session):
    make_application(session, "ZQA", "Zebra")

    response = edit(login_as("editor"), name="", go_live="31/02/2024", documentation_url="ftp://x", entity="NOPE")

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Name is required." in html and "Go-live is not a real date." in html and "not an http(s) URL" in html
    assert session.scalars(select(Change)).all() == []


def test_an_unknown_entity_is_refused_by_the_merge(login_as, session):
    make_application(session, "ZQA", "Zebra")

    response = edit(login_as("editor"), entity="NOPE")

    assert response.status_code == 422
    assert "unknown entity NOPE" in response.get_data(as_text=True)


def test_readers_cannot_edit(login_as, session):
    make_application(session, "ZQA", "Zebra")

    assert edit(login_as("reader"), description="x").status_code == 403


def test_the_page_shows_each_value_s_source_and_the_api_returns_it_on_request(login_as, session):
    cmdb = make_source(session, "cmdb")
    state(session, cmdb, "application", ("ZQA",), name="Zebra", status="build")
    reader = login_as("reader")

    html = reader.get("/applications/ZQA").get_data(as_text=True)
    body = reader.get("/api/v1/applications/ZQA?provenance=true").json
    plain = reader.get("/api/v1/applications/ZQA").json

    assert 'title="From cmdb, run #' in html and "Where each value comes from" in html
    assert body["provenance"]["name"]["source"] == "cmdb" and body["provenance"]["name"]["run"] is not None
    assert "description" not in body["provenance"]  # entered by nobody: no provenance
    assert "provenance" not in plain
    assert reader.get("/api/v1/applications/ZQA?provenance=perhaps").status_code == 400


def test_asking_for_the_provenance_field_gives_it(login_as, session):
    cmdb = make_source(session, "cmdb")
    state(session, cmdb, "application", ("ZQA",), name="Zebra")

    body = login_as("reader").get("/api/v1/applications/ZQA?fields=trigram,provenance").json

    assert body["trigram"] == "ZQA" and body["provenance"]["name"]["source"] == "cmdb"
