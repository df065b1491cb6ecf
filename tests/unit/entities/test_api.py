"""The entities API: the organisation tree as a filtered list, and one entity with its ancestors and subtree."""

from __future__ import annotations

import pytest

from tests.unit.builders import make_entity


@pytest.fixture
def tree(session):
    """GRP > DSI > {DSI-PAY > DSI-PAY-CARD, DSI-RH}."""
    group = make_entity(session, "GRP", "Groupe", kind="group")
    division = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division", parent=group)
    payments = make_entity(session, "DSI-PAY", "Paiements", kind="department", parent=division)
    make_entity(session, "DSI-PAY-CARD", "Cartes", parent=payments)
    make_entity(session, "DSI-RH", "Ressources humaines", parent=division)


def codes(response) -> list[str]:
    return [item["code"] for item in response.get_json()["results"]]


def test_list_is_sorted_by_code(client, tree):
    assert codes(client.get("/api/v1/entities")) == ["DSI", "DSI-PAY", "DSI-PAY-CARD", "DSI-RH", "GRP"]


def test_list_gives_each_entity_with_its_parent_code(client, tree):
    results = client.get("/api/v1/entities?q=dsi-pay-card").get_json()["results"]
    assert results == [{"code": "DSI-PAY-CARD", "name": "Cartes", "kind": "team", "parent": "DSI-PAY"}]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=team", ["DSI-PAY-CARD", "DSI-RH"]),
        ("kind=group,division", ["DSI", "GRP"]),
        ("kind=department&kind=team", ["DSI-PAY", "DSI-PAY-CARD", "DSI-RH"]),
        ("parent=dsi", ["DSI-PAY", "DSI-RH"]),
        ("parent=DSI-RH", []),
        ("q=pay", ["DSI-PAY", "DSI-PAY-CARD"]),
        ("q=RESSOURCES", ["DSI-RH"]),
        ("q=pay&kind=team", ["DSI-PAY-CARD"]),
    ],
)
def test_list_filtered(client, tree, query, expected):
    assert codes(client.get(f"/api/v1/entities?{query}")) == expected


def test_detail_lists_ancestors_from_the_root(client, tree):
    body = client.get("/api/v1/entities/DSI-PAY-CARD").get_json()
    assert body["ancestors"] == [
        {"code": "GRP", "name": "Groupe"},
        {"code": "DSI", "name": "Direction des Systèmes d'Information"},
        {"code": "DSI-PAY", "name": "Paiements"},
    ]


def test_detail_lists_the_subtree_depth_first_with_depths(client, tree):
    body = client.get("/api/v1/entities/DSI").get_json()
    assert [(item["code"], item["parent"], item["depth"]) for item in body["subtree"]] == [
        ("DSI-PAY", "DSI", 1),
        ("DSI-PAY-CARD", "DSI-PAY", 2),
        ("DSI-RH", "DSI", 1),
    ]


def test_detail_of_the_root_has_no_ancestors_and_no_parent(client, tree):
    body = client.get("/api/v1/entities/GRP").get_json()
    assert body["ancestors"] == [] and body["parent"] is None
    assert len(body["subtree"]) == 4


def test_detail_of_a_leaf_has_an_empty_subtree(client, tree):
    assert client.get("/api/v1/entities/DSI-RH").get_json()["subtree"] == []


def test_detail_when_code_is_lowercase(client, tree):
    body = client.get("/api/v1/entities/dsi-pay").get_json()
    assert (body["code"], body["name"], body["kind"], body["parent"]) == ("DSI-PAY", "Paiements", "department", "DSI")


def test_detail_of_an_unknown_code_is_not_found(client, tree):
    response = client.get("/api/v1/entities/DSI-XXX")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "No entity has the code 'DSI-XXX'."
