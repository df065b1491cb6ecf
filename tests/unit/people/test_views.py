"""The person page: who they are, where they sit, and the roles they hold across applications."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.unit.builders import add_stakeholder, make_application, make_entity, make_person
from tests.unit.statements import count_statements

ROLE_SECTION = re.compile(r'<h3 id="role-(\w+)">([^<]+) <span class="count">(\d+)</span></h3>(.*?)</section>', re.S)


@pytest.fixture
def person(session):
    """Jean Dupont (DSI-PAY, under DSI under GRP): owner of BCA and ZZZ, tech lead of BCA, support of BCA2."""
    group = make_entity(session, "GRP", "Groupe Banque", kind="group")
    division = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division", parent=group)
    payments = make_entity(session, "DSI-PAY", "Paiements", kind="department", parent=division)
    jean = make_person(session, "jdupont", "Jean Dupont", email="jean.dupont@bank.example", entity=payments)
    bca = make_application(session, "BCA", "Banque de Compensation", entity=payments)
    bca2 = make_application(session, "BCA2", "Banque de Compensation v2", entity=payments, status="build")
    zzz = make_application(session, "ZZZ", "Zone sans entité", status="retired")
    add_stakeholder(session, zzz, jean, "owner")
    add_stakeholder(session, bca, jean, "owner")
    add_stakeholder(session, bca, jean, "tech_lead")
    add_stakeholder(session, bca2, jean, "support")
    add_stakeholder(session, bca2, make_person(session, "amartin", "Alice Martin"), "owner")
    session.expire_all()
    return jean


def page_of(response, status: int = 200) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return unescape(response.get_data(as_text=True))


def role_sections(page: str) -> list[tuple[str, str, int, list[str]]]:
    """(role, label, count, trigrams) of each role section, in page order."""
    return [
        (role, label, int(count), re.findall(r'class="trigram" href="/applications/(\w+)"', body))
        for role, label, count, body in ROLE_SECTION.findall(page)
    ]


def test_person_page_shows_name_login_email_and_entity(client, person):
    page = page_of(client.get("/people/jdupont"))
    assert "<h1>Jean Dupont</h1>" in page
    assert '<code class="person-login">jdupont</code>' in page
    assert '<a href="mailto:jean.dupont@bank.example">jean.dupont@bank.example</a>' in page
    assert '<a href="/entities/DSI-PAY">Paiements</a>' in page
    assert 'href="/api/v1/people/jdupont"' in page


def test_person_page_places_them_in_the_organisation(client, person):
    page = page_of(client.get("/people/jdupont"))
    crumbs = re.search(r'<nav class="breadcrumb" aria-label="Breadcrumb">\s*<ol>(.*?)</ol>', page, re.S).group(1)
    assert re.findall(r">([^<>]+)</(?:a|span)>", crumbs) == [
        "Entities",
        "Groupe Banque",
        "Direction des Systèmes d'Information",
        "Paiements",
        "Jean Dupont",
    ]


def test_roles_are_grouped_in_stakeholder_order_with_their_labels(client, person):
    page = page_of(client.get("/people/jdupont"))
    assert role_sections(page) == [
        ("owner", "Owner", 2, ["BCA", "ZZZ"]),
        ("tech_lead", "Tech lead", 1, ["BCA"]),
        ("support", "Support", 1, ["BCA2"]),
    ]
    assert "4 on 3 applications" in page


def test_each_application_shows_its_name_status_and_entity(client, person):
    page = page_of(client.get("/people/jdupont"))
    support = next(body for role, _, _, body in ROLE_SECTION.findall(page) if role == "support")
    assert '<a class="trigram" href="/applications/BCA2">BCA2</a>' in support
    assert "Banque de Compensation v2" in support
    assert '<span class="badge status-build">build</span>' in support
    assert '<a href="/entities/DSI-PAY">Paiements</a>' in support


def test_person_page_shows_the_same_roles_as_its_api_twin(client, person):
    body = client.get("/api/v1/people/jdupont").get_json()
    sections = role_sections(page_of(client.get("/people/jdupont")))
    shown = {(role, trigram) for role, _, _, trigrams in sections for trigram in trigrams}
    assert shown == {(item["role"], item["application"]["trigram"]) for item in body["roles"]}


def test_person_page_links_to_a_search_of_their_applications(client, person):
    page = page_of(client.get("/people/jdupont"))
    assert '<a class="button primary" href="/?person=jdupont">Search their applications</a>' in page


def test_person_page_keeps_the_header_search(client, person):
    assert 'id="global-search"' in page_of(client.get("/people/jdupont"))


def test_login_is_matched_in_any_case(client, person):
    assert "<h1>Jean Dupont</h1>" in page_of(client.get("/people/JDupont"))


def test_person_without_roles_says_so(client, session):
    make_person(session, "nobody-yet", "Nadia Nouvelle", email=None)
    page = page_of(client.get("/people/nobody-yet"))
    assert "Nadia Nouvelle holds no role on any application." in page
    assert "None recorded" in page  # no email, no entity


def test_unknown_person_is_a_404_page_with_close_ones(client, person):
    page = page_of(client.get("/people/Dupont"), 404)
    assert "No person “dupont”" in page
    assert '<a href="/people/jdupont">Jean Dupont</a>' in page
    assert 'href="/?q=dupont"' in page


def test_person_page_statements_do_not_grow_with_the_roles(client, session, connection):
    team = make_entity(session, "DSI", "DSI", kind="division")
    roles = ("owner", "it_owner", "business_owner", "tech_lead", "support", "security")

    def statements_for(login: str, count: int) -> int:
        holder = make_person(session, login, entity=team)
        for number in range(count):
            application = make_application(session, f"{login[:3].upper()}{number:02d}", entity=team)
            add_stakeholder(session, application, holder, roles[number % len(roles)])
        session.expire_all()
        return count_statements(connection, lambda: page_of(client.get(f"/people/{login}")))

    page_of(client.get("/people/nobody"), 404)  # a browser's first request may do one-off work
    few, many = statements_for("aaa", 3), statements_for("bbb", 30)
    assert few == many, f"{few} statements for 3 roles, {many} for 30"
    assert many <= 8
