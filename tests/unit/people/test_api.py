"""The people API: people filtered by text, entity and role, and one person with every role they hold."""

from __future__ import annotations

import pytest

from tests.unit.builders import add_stakeholder, make_application, make_entity, make_person


@pytest.fixture
def people(session):
    division = make_entity(session, "DSI", "Direction", kind="division")
    payments = make_entity(session, "DSI-PAY", "Paiements", parent=division)
    bca = make_application(session, "BCA", "Banque de Compensation", entity=payments)
    pay = make_application(session, "PAY", "Paie", status="plan")
    helene = make_person(session, "hlefevre", "Hélène Lefèvre", entity=payments)
    jean = make_person(session, "jdupont", "Jean Dupont", entity=division)
    make_person(session, "pbernard", "Paul Bernard")
    add_stakeholder(session, pay, helene, "support")
    add_stakeholder(session, bca, helene, "owner")
    add_stakeholder(session, bca, helene, "tech_lead")
    add_stakeholder(session, bca, jean, "it_owner")


def logins(response) -> list[str]:
    return [item["login"] for item in response.get_json()["results"]]


def test_list_is_sorted_by_name(client, people):
    assert logins(client.get("/api/v1/people")) == ["hlefevre", "jdupont", "pbernard"]


def test_list_gives_each_person_with_their_entity(client, people):
    results = client.get("/api/v1/people?q=jdupont").get_json()["results"]
    assert results == [
        {
            "login": "jdupont",
            "name": "Jean Dupont",
            "email": "jdupont@bank.example",
            "entity": {"code": "DSI", "name": "Direction"},
        }
    ]


def test_list_gives_null_entity_when_the_person_has_none(client, people):
    assert client.get("/api/v1/people?q=pbernard").get_json()["results"][0]["entity"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=helene", ["hlefevre"]),
        ("q=LEFÈVRE", ["hlefevre"]),
        ("q=dupo", ["jdupont"]),
        ("q=pbernard@bank", ["pbernard"]),
        ("entity=dsi", ["hlefevre", "jdupont"]),
        ("entity=DSI-PAY", ["hlefevre"]),
        ("role=owner", ["hlefevre"]),
        ("role=it_owner,tech_lead", ["hlefevre", "jdupont"]),
        ("role=security", []),
        ("q=jean&role=owner", []),
    ],
)
def test_list_filtered(client, people, query, expected):
    assert logins(client.get(f"/api/v1/people?{query}")) == expected


def test_detail_lists_roles_by_trigram_then_role(client, people):
    roles = client.get("/api/v1/people/hlefevre").get_json()["roles"]
    assert [(role["application"]["trigram"], role["role"]) for role in roles] == [
        ("BCA", "owner"),
        ("BCA", "tech_lead"),
        ("PAY", "support"),
    ]


def test_detail_gives_each_role_its_application_and_owning_entity(client, people):
    roles = client.get("/api/v1/people/jdupont").get_json()["roles"]
    assert roles == [
        {
            "role": "it_owner",
            "application": {"trigram": "BCA", "name": "Banque de Compensation", "status": "production"},
            "entity": {"code": "DSI-PAY", "name": "Paiements"},
        }
    ]


def test_detail_gives_null_entity_when_the_application_has_none(client, people):
    roles = client.get("/api/v1/people/hlefevre").get_json()["roles"]
    assert roles[-1]["entity"] is None


def test_detail_of_someone_without_roles_has_empty_roles(client, people):
    assert client.get("/api/v1/people/pbernard").get_json()["roles"] == []


def test_detail_when_login_is_uppercase(client, people):
    body = client.get("/api/v1/people/JDUPONT").get_json()
    assert (body["login"], body["name"]) == ("jdupont", "Jean Dupont")


def test_detail_of_an_unknown_login_is_not_found(client, people):
    response = client.get("/api/v1/people/nobody")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "No person has the login 'nobody'."
