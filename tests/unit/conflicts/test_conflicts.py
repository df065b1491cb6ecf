"""The Conflicts page and API: sources that disagree, and a steward settling them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.applications.models import Application
from portal.changes.models import Change
from portal.conflicts.models import Conflict
from portal.sources.models import Source, SourceRecord
from tests.unit.builders import make_application, make_entity, make_source
from tests.unit.conftest import CSRF_TOKEN
from tests.unit.imports.runs import state


@pytest.fixture
def disagreement(session):
    """cmdb (60) says the ZQA is "Zebra"; ldap (40) says "Zebre": cmdb wins, a conflict is open."""
    make_application(session, "ZQA", "Zebra", entity=make_entity(session, "DSI-ETU"))
    cmdb = make_source(session, "cmdb", precedence=60)
    ldap = make_source(session, "ldap", precedence=40)
    state(session, cmdb, "application", ("ZQA",), name="Zebra")
    state(session, ldap, "application", ("ZQA",), name="Zebre")
    return session.scalars(select(Conflict)).one()


def visible_name(session) -> str:
    session.expire_all()
    return session.scalar(select(Application.name).where(Application.trigram == "ZQA"))


def resolve(client, conflict, **form):
    return client.post(f"/conflicts/{conflict.id}/resolve", data={"csrf_token": CSRF_TOKEN, **form})


def test_the_page_lists_open_conflicts_with_every_source_value(login_as, disagreement):
    html = login_as("steward").get("/conflicts").get_data(as_text=True)

    assert "1 conflict" in html
    assert "“Zebra” from <strong>cmdb</strong> (precedence 60) · shown now" in html
    assert "“Zebre” from <strong>ldap</strong> (precedence 40)" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("source=ldap", 1),
        ("source=crm", 0),
        ("field=name", 1),
        ("field=status", 0),
        ("entity=DSI-ETU", 1),
        ("entity=OTHER", 0),
        ("application=zqa", 1),
        ("status=resolved", 0),
        ("status=all", 1),
    ],
)
def test_the_filters_of_the_page_and_the_api_agree(login_as, disagreement, query, expected):
    steward = login_as("steward")

    api = steward.get(f"/api/v1/conflicts?{query}").json
    page = steward.get(f"/conflicts?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)

    assert api["count"] == expected
    assert f'id="conflict-count"><span role="status">{expected} conflict' in page


def test_keeping_the_winner_changes_no_value_and_records_the_resolution(login_as, session, disagreement):
    response = resolve(login_as("steward"), disagreement, choice="keep", note="cmdb is the reference")

    assert response.status_code == 303
    session.expire_all()
    assert (disagreement.status, disagreement.resolution, disagreement.resolution_value) == (
        "resolved",
        "kept",
        "Zebra",
    )
    assert disagreement.note == "cmdb is the reference"
    assert visible_name(session) == "Zebra"
    audit = session.scalars(select(Change).where(Change.operation == "resolve")).one()
    assert (audit.field, audit.new_value) == ("name", "kept: Zebra")


def test_choosing_the_losing_value_pins_it_as_a_manual_value(login_as, session, disagreement):
    resolve(login_as("steward"), disagreement, choice="source:ldap")

    assert visible_name(session) == "Zebre"
    session.expire_all()
    assert (disagreement.status, disagreement.resolution) == ("resolved", "chose")
    manual = session.scalars(select(SourceRecord).where(SourceRecord.source.has(name="manual"))).one()
    assert manual.payload == {"name": "Zebre"}


def test_pinning_a_typed_value(login_as, session, disagreement):
    resolve(login_as("steward"), disagreement, choice="pin", value="Zebra Bank")

    assert visible_name(session) == "Zebra Bank"
    session.expire_all()
    assert disagreement.resolution == "pinned"
    assert session.scalars(select(Conflict).where(Conflict.status == "open")).all() == []


def test_a_resolved_conflict_stays_resolved_until_a_source_says_something_new(login_as, session, disagreement):
    resolve(login_as("steward"), disagreement, choice="keep")
    ldap = session.scalars(select(Source).where(Source.name == "ldap")).one()
    state(session, ldap, "application", ("ZQA",), name="Zebre")  # the same again
    assert session.scalars(select(Conflict).where(Conflict.status == "open")).all() == []

    state(session, ldap, "application", ("ZQA",), name="Zebrette")  # something new

    reopened = session.scalars(select(Conflict).where(Conflict.status == "open")).one()
    assert [candidate["value"] for candidate in reopened.candidates] == ["Zebra", "Zebrette"]


def test_an_invalid_pinned_value_is_refused_and_nothing_changes(login_as, session, disagreement):
    steward = login_as("steward")

    response = resolve(steward, disagreement, choice="pin", value="")

    assert response.status_code == 303
    assert "Type the value to pin" in steward.get("/conflicts").get_data(as_text=True)
    session.expire_all()
    assert disagreement.status == "open"


def test_a_stale_choice_is_refused(login_as, session, disagreement):
    resolve(login_as("steward"), disagreement, choice="source:crm")

    session.expire_all()
    assert disagreement.status == "open"


def test_readers_see_conflicts_in_the_api_but_not_the_page(login_as, disagreement):
    reader = login_as("reader")

    assert reader.get("/api/v1/conflicts").json["count"] == 1
    assert reader.get("/conflicts").status_code == 403


def test_a_page_number_that_makes_no_sense_shows_the_first_page(login_as, disagreement):
    # `²` passed `str.isdigit()` and then failed `int()`: a server error.
    for page in ("abc", "0", "-3", "99999999999", "%C2%B2"):
        response = login_as("steward").get(f"/conflicts?page={page}")
        assert response.status_code == 200 and "1 conflict" in response.get_data(as_text=True)
