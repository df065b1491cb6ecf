"""The applications API: seed-compatible search, list, detail, and every bad input."""

from __future__ import annotations

import pytest

from tests.unit.builders import (
    add_stakeholder,
    make_application,
    make_entity,
    make_environment,
    make_interface,
    make_person,
    reindex,
)


@pytest.fixture
def referential(session):
    division = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division")
    team = make_entity(session, "DSI-PAY", "Équipe Paiements", parent=division)
    bca = make_application(session, "BCA", "Banque de Compensation Automatisée", entity=team, status="production")
    bca2 = make_application(session, "BCA2", "Banque de Compensation v2", entity=team, status="build")
    make_application(session, "XYZ", "Gestion des habilitations", status="retired")
    owner = make_person(session, "jdupont", "Jean Dupont")
    add_stakeholder(session, bca, owner, "owner")
    make_environment(session, bca, "prod", url="https://bca.intranet.bank.example", servers=("par-lx-bca-p01",))
    make_interface(session, bca, bca2, protocol="SFTP")
    reindex(session)
    return bca


def test_seed_compatible_search_finds_trigram_prefix_in_any_case(client, referential):
    response = client.get("/api/v1/applications/search?Trigram=Bca&page_size=50&page=1")
    assert response.status_code == 200
    body = response.get_json()
    assert [item["trigram"] for item in body["results"]] == ["BCA", "BCA2"]
    assert body["count"] == 2 and body["count_is_estimate"] is False
    assert body["page"] == 1 and body["page_size"] == 50


def test_search_ranks_exact_trigram_first_when_lowercase(client, referential):
    body = client.get("/api/v1/applications/search?q=bca").get_json()
    assert body["results"][0]["trigram"] == "BCA"
    assert body["results"][0]["matches"][0]["field"] == "trigram"
