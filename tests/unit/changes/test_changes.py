"""The audit log as users read it: `GET /api/v1/changes` and an application's History tab."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from werkzeug.datastructures import MultiDict

from portal.changes.queries import ChangeFilters, select_changes
from tests.unit.builders import make_source
from tests.unit.imports.runs import state
from tests.unit.statements import reads_through_an_index


@pytest.fixture
def history(session):
    cmdb = make_source(session, "cmdb")
    ldap = make_source(session, "ldap", precedence=80)
    state(session, cmdb, "application", ("ZQA",), name="Zebra", status="build")
    state(session, cmdb, "application", ("ZQA",), status="production")
    state(session, ldap, "application", ("ZQA",), name="Zebra Bank")
    state(session, cmdb, "application", ("ZQB",), name="Zebu")


def test_changes_are_listed_newest_first_with_who_and_which_source(login_as, history):
    body = login_as("reader").get("/api/v1/changes?application=zqa").json

    assert body["count"] == 3
    assert [(c["operation"], c["field"], c["old"], c["new"], c["source"]) for c in body["results"][:2]] == [
        ("update", "name", "Zebra", "Zebra Bank", "ldap"),
        ("update", "status", "build", "production", "cmdb"),
    ]
    assert body["results"][0]["actor"] == "test-pusher"


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("source=ldap", 1),
        ("field=status", 1),
        ("operation=create", 2),
        ("object_type=application", 4),
        ("key=ZQB", 1),
        ("since=2000-01-01", 4),
        ("until=2000-01-01", 0),
        ("actor=nobody", 0),
        # An empty value is no value, as for every parameter of the API (the document says so).
        ("until=&since=&run=", 4),
    ],
)
def test_changes_are_filtered(login_as, history, query, count):
    assert login_as("reader").get(f"/api/v1/changes?{query}").json["count"] == count


@pytest.fixture
def objects_history(session):
    """Changes of an application's environment and of an entity, whose keys look alike."""
    cmdb = make_source(session, "cmdb")
    state(session, cmdb, "entity", ("ZQA",), name="A team called like an application", kind="team")
    state(session, cmdb, "application", ("ZQA",), name="Zebra", entity="ZQA")
    state(session, cmdb, "environment", ("ZQA", "prod"), kind="PROD")
    state(session, cmdb, "environment", ("ZQA", "prod"), url="https://zqa.example")
    state(session, cmdb, "application", ("ZQB",), name="Zebu")
    state(session, cmdb, "environment", ("ZQB", "prod"), kind="PROD")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("key=ZQA|prod", [("environment", "update"), ("environment", "create")]),
        ("key=ZQA|prod&object_type=environment", [("environment", "update"), ("environment", "create")]),
        ("key=ZQA", [("application", "create"), ("entity", "create")]),
        ("key=ZQA&object_type=entity", [("entity", "create")]),
        ("key=ZQA&object_type=application", [("application", "create")]),
        ("key=ZQA|prod&object_type=person", []),
        ("key=ZQC|prod", []),
    ],
)
def test_changes_of_one_object_are_found_by_its_key(login_as, objects_history, query, expected):
    results = login_as("reader").get(f"/api/v1/changes?{query}").json["results"]

    assert [(change["object_type"], change["operation"]) for change in results] == expected


@pytest.mark.parametrize(
    ("query", "by"),
    [
        ("application=ZQA", ("application",)),
        ("key=ZQA|prod", ("application", "natural_key")),
        ("key=ZQA|prod&object_type=environment", ("application",)),
        ("key=ZQA&object_type=entity", ("natural_key",)),
        ("key=ZQA", ("application", "natural_key")),
        ("run=1", ("run_id",)),
    ],
)
def test_changes_are_filtered_through_an_index(session, query, by):
    """The audit log grows by a row per object of each import: finding one application's, one object's or
    one run's changes may not read all of it. (A period is read newest first, and a page's limit stops it.)"""
    statement = select_changes(ChangeFilters.from_args(MultiDict(parse_qsl(query))))

    assert reads_through_an_index(session, statement, "change", by)


@pytest.mark.parametrize(
    "query",
    # run=0: found by schemathesis (the document says a run id is 1 or more; it was read as a filter);
    # run=² passed `str.isdigit()` and then failed `int()`: a server error.
    ["object_type=spaceship", "operation=delete", "run=abc", "run=0", "run=%C2%B2", "since=yesterday", "colour=red"],
)
def test_bad_filters_are_refused(login_as, query):
    response = login_as("reader").get(f"/api/v1/changes?{query}")

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_the_history_tab_is_a_fragment_htmx_loads(login_as, history):
    response = login_as("reader").get("/applications/zqa/history", headers={"HX-Request": "true"})

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert "<del>Zebra</del> → <ins>Zebra Bank</ins>" in html and "via ldap" in html
    assert "Created application ZQA" in html


def test_the_history_tab_ignores_a_before_that_is_no_number(login_as, history):
    """`before=²` passed `str.isdigit()` and then failed `int()`: a server error."""
    response = login_as("reader").get("/applications/zqa/history?before=%C2%B2")
    assert response.status_code == 200
    assert "Created application ZQA" in response.get_data(as_text=True)


def test_the_history_tab_pages_through_older_changes(login_as, session):
    cmdb = make_source(session, "cmdb")
    for number in range(35):
        state(session, cmdb, "application", ("ZQA",), name=f"Name {number}")
    reader = login_as("reader")

    first = reader.get("/applications/ZQA/history").get_data(as_text=True)
    assert "Older changes" in first and "Name 34" in first and "Created" not in first
    older_url = first.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")
    second = reader.get(older_url).get_data(as_text=True)
    assert "Created application ZQA" in second and "Older changes" not in second
