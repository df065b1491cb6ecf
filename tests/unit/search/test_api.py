"""The global search API: one query, hits grouped by type, each group with its total."""

from __future__ import annotations

import pytest

from tests.unit.builders import (
    add_stakeholder,
    make_application,
    make_entity,
    make_environment,
    make_person,
    reindex,
)


@pytest.fixture
def referential(session):
    payments = make_entity(session, "DSI-PAY", "Paiements")
    bca = make_application(session, "BCA", "Banque de Compensation", entity=payments)
    make_application(session, "BCA2", "Banque de Compensation v2", entity=payments, status="build")
    make_application(session, "PAY", "Paie", status="plan")
    owner = make_person(session, "jdupont", "Jean Dupont", entity=payments)
    make_person(session, "jdurand", "Julie Durand")
    add_stakeholder(session, bca, owner, "owner")
    make_environment(session, bca, "prod", servers=("par-lx-bca-p01", "par-lx-bca-p02"))
    reindex(session)


def search(client, query: str) -> dict:
    response = client.get(f"/api/v1/search?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_results_are_grouped_by_type(client, referential):
    body = search(client, "q=bca")
    assert list(body) == ["q", "applications", "people", "entities", "components"]
    for group in ("applications", "people", "entities", "components"):
        assert list(body[group]) == ["count", "count_is_estimate", "results"]


def test_exact_trigram_comes_first(client, referential):
    results = search(client, "q=bca")["applications"]["results"]
    assert [item["trigram"] for item in results] == ["BCA", "BCA2"]


def test_application_hits_carry_their_api_url_and_no_score(client, referential):
    hit = search(client, "q=bca")["applications"]["results"][0]
    assert hit["url"] == "http://localhost/api/v1/applications/BCA"
    assert "score" not in hit


def test_people_are_found_by_name_ignoring_accents_and_case(client, referential):
    people = search(client, "q=JULIE")["people"]
    assert people["results"] == [{"login": "jdurand", "name": "Julie Durand", "email": "jdurand@bank.example"}]


def test_people_are_found_by_login(client, referential):
    assert [item["login"] for item in search(client, "q=jdu")["people"]["results"]] == ["jdupont", "jdurand"]


def test_entities_are_found_by_code(client, referential):
    entities = search(client, "q=dsi-pay")["entities"]
    assert entities["results"] == [{"code": "DSI-PAY", "name": "Paiements", "kind": "team"}]


def test_components_are_found_by_hostname_with_their_application(client, referential):
    components = search(client, "q=par-lx-bca")["components"]["results"]
    assert components == [
        {"name": "par-lx-bca-p01", "kind": "server", "environment": "prod", "application": "BCA"},
        {"name": "par-lx-bca-p02", "kind": "server", "environment": "prod", "application": "BCA"},
    ]


def test_limit_caps_each_group_and_keeps_its_total(client, referential):
    body = search(client, "q=par-lx-bca&limit=1")
    assert len(body["components"]["results"]) == 1
    assert body["components"]["count"] == 2 and body["components"]["count_is_estimate"] is False


def test_query_is_trimmed(client, referential):
    assert search(client, "q=%20%20bca%20")["q"] == "bca"


def test_nothing_found_gives_empty_groups(client, referential):
    body = search(client, "q=zzzzzz")
    assert all(
        body[group] == {"count": 0, "count_is_estimate": False, "results": []}
        for group in ("applications", "people", "entities", "components")
    )
