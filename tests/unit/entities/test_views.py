"""The entity pages: the organisation tree with its filter, and one entity with its subtree's applications."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.unit.builders import add_stakeholder, make_application, make_entity, make_person, reindex
from tests.unit.statements import count_statements

ROW = re.compile(
    r'<code class="entity-code">([^<]+)</code>\s*<span class="badge kind-badge kind-(\w+)">\w+</span>\s*'
    r'<span class="entity-apps[^"]*"><strong>([\d,]+)</strong>'
)
TOGGLE = re.compile(
    r'<details class="entity-children"( open)?>\s*<summary><span class="visually-hidden">Sub-entities of ([^<]+) \('
)


@pytest.fixture
def tree(session):
    """GRP > DSI > {DSI-PAY > DSI-PAY-CARD, DSI-RH}, and EXT beside GRP; applications at several levels."""
    group = make_entity(session, "GRP", "Groupe Banque", kind="group")
    division = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division", parent=group)
    payments = make_entity(session, "DSI-PAY", "Paiements", kind="department", parent=division)
    cards = make_entity(session, "DSI-PAY-CARD", "Cartes", parent=payments)
    people = make_entity(session, "DSI-RH", "Ressources Humaines", parent=division)
    other = make_entity(session, "EXT", "Filiale Externe", kind="group")
    make_application(session, "BCA", "Banque de Compensation", entity=payments)
    make_application(session, "BCA2", "Banque de Compensation v2", entity=cards, status="build")
    make_application(session, "RHX", "Paie des salariés", entity=people, status="retired")
    make_application(session, "EXT1", "Outil externe", entity=other)
    reindex(session)
    session.expire_all()


def page_of(response, status: int = 200) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return unescape(response.get_data(as_text=True))


def rows(page: str) -> dict[str, tuple[str, int]]:
    """code -> (kind, applications) of every entity row of the page, in page order."""
    return {code: (kind, int(count.replace(",", ""))) for code, kind, count in ROW.findall(page)}


def toggles(page: str) -> dict[str, bool]:
    """entity name -> whether its sub-entities start unfolded."""
    return {name: bool(is_open) for is_open, name in TOGGLE.findall(page)}


# The tree: /entities


def test_tree_shows_every_entity_with_its_kind_and_subtree_count(client, tree):
    page = page_of(client.get("/entities"))
    assert rows(page) == {
        "EXT": ("group", 1),
        "GRP": ("group", 3),
        "DSI": ("division", 3),
        "DSI-PAY": ("department", 2),
        "DSI-PAY-CARD": ("team", 1),
        "DSI-RH": ("team", 1),
    }
    assert "6 entities · 4 applications" in page


def test_tree_links_each_entity_to_its_page(client, tree):
    page = page_of(client.get("/entities"))
    assert '<a class="entity-name" href="/entities/DSI-PAY">Paiements</a>' in page


def test_tree_nests_children_and_opens_the_top_levels_only(client, tree):
    page = page_of(client.get("/entities"))
    assert toggles(page) == {"Groupe Banque": True, "Direction des Systèmes d'Information": True, "Paiements": False}
    # Cartes sits inside the <details> of Paiements, after its row.
    paiements = page.index("Sub-entities of Paiements")
    assert page.index(">Paiements</a>") < paiements < page.index(">Cartes</a>")


def test_header_offers_the_entities_section(client, tree):
    page = page_of(client.get("/entities"))
    assert '<a href="/entities" aria-current="page">Entities</a>' in page
    assert 'id="global-search"' in page  # the header's search box stays


def test_filter_keeps_matches_with_their_ancestors(client, tree):
    page = page_of(client.get("/entities?q=card"))
    assert list(rows(page)) == ["GRP", "DSI", "DSI-PAY", "DSI-PAY-CARD"]
    assert "1 entity matches “card”" in page
    assert all(toggles(page).values())  # every kept level is unfolded
    # Ancestors are context, the match is not.
    match = r'<li class="entity-node">\s*<div class="entity-row">\s*<a class="entity-name" href="/entities/DSI-PAY-CARD'
    assert re.search(match, page)
    assert 'entity-context"' in page


def test_filter_matches_names_ignoring_case_and_accents(client, tree):
    page = page_of(client.get("/entities?q=SYSTEMES"))
    assert list(rows(page)) == ["GRP", "DSI"]


def test_filter_keeps_the_counts_of_the_whole_subtree(client, tree):
    page = page_of(client.get("/entities?q=paiements"))
    assert rows(page)["DSI-PAY"] == ("department", 2)
    assert "DSI-PAY-CARD" not in rows(page)  # children that do not match are not shown


def test_filter_without_match_says_so_and_offers_the_search(client, tree):
    page = page_of(client.get("/entities?q=nowhere"))
    assert "No entity matches “nowhere”" in page
    assert 'href="/?q=nowhere"' in page


def test_filter_is_a_plain_form(client, tree):
    page = page_of(client.get("/entities?q=dsi"))
    form = re.search(r'<form class="tree-filter"[^>]*>', page).group(0)
    assert 'action="/entities"' in form and 'method="get"' in form and "hx-" not in form
    assert '<label for="entity-filter">' in page and 'value="dsi"' in page
    assert 'href="/entities">Show the whole tree' in page


def test_too_long_filter_is_a_400_page(client, tree):
    response = client.get("/entities?q=" + "x" * 500)
    assert response.status_code == 400 and response.mimetype == "text/html"


def test_tree_statements_do_not_grow_with_the_entities(client, session, connection):
    root = make_entity(session, "ROOT", "Racine", kind="group")

    def statements_with(children: int) -> int:
        for number in range(len(root.children), children):
            child = make_entity(session, f"ROOT-{number:02d}", f"Équipe {number}", parent=root)
            make_application(session, f"APP{number:02d}", entity=child)
        session.expire_all()
        return count_statements(connection, lambda: page_of(client.get("/entities")))

    page_of(client.get("/entities"))  # a browser's first request may do one-off work
    few, many = statements_with(3), statements_with(30)
    assert few == many, f"{few} statements for 3 entities, {many} for 30"
    assert many <= 6


# One entity: /entities/<code>


def test_entity_page_shows_the_ancestors_as_a_breadcrumb(client, tree):
    page = page_of(client.get("/entities/DSI-PAY"))
    crumbs = re.search(r'<nav class="breadcrumb" aria-label="Breadcrumb">\s*<ol>(.*?)</ol>', page, re.S).group(1)
    assert re.findall(r">([^<>]+)</(?:a|span)>", crumbs) == [
        "Entities",
        "Groupe Banque",
        "Direction des Systèmes d'Information",
        "Paiements",
    ]
    assert '<span aria-current="page">Paiements</span>' in crumbs


def test_entity_page_shows_name_code_kind_and_counts(client, tree):
    page = page_of(client.get("/entities/DSI"))
    assert "<h1>Direction des Systèmes d'Information</h1>" in page
    assert '<code class="entity-code">DSI</code> <span class="badge kind-badge kind-division">division</span>' in page
    assert "1 department, 2 teams" in page
    assert 'href="/api/v1/entities/DSI"' in page


def test_entity_page_lists_its_children_with_their_counts(client, tree):
    page = page_of(client.get("/entities/DSI"))
    children = page.split('id="sub-entities-heading"')[1].split('id="applications-heading"')[0]
    assert rows(children) == {"DSI-PAY": ("department", 2), "DSI-PAY-CARD": ("team", 1), "DSI-RH": ("team", 1)}
    assert toggles(children) == {"Paiements": False}


def test_entity_page_shows_the_same_entities_as_its_api_twin(client, tree):
    body = client.get("/api/v1/entities/DSI").get_json()
    page = page_of(client.get("/entities/DSI"))
    for ancestor in body["ancestors"]:
        assert f'href="/entities/{ancestor["code"]}">{ancestor["name"]}</a>' in page
    shown = {code: kind for code, (kind, _) in rows(page).items()}
    assert shown == {item["code"]: item["kind"] for item in body["subtree"]}
    assert f"<h1>{body['name']}</h1>" in page


def test_entity_page_lists_the_applications_of_its_whole_subtree(client, tree):
    page = page_of(client.get("/entities/DSI"))
    assert re.findall(r'class="trigram" href="/applications/(\w+)"', page) == ["BCA", "BCA2", "RHX"]
    assert '<p id="result-status" class="result-status" role="status" aria-live="polite">3 applications</p>' in page


def test_entity_page_facets_leave_the_entity_out_of_the_url(client, tree):
    page = page_of(client.get("/entities/DSI?status=build"))
    assert re.findall(r'class="trigram" href="/applications/(\w+)"', page) == ["BCA2"]
    assert 'name="status" value="build" checked' in page
    assert 'name="entity"' not in page and not re.search(r'hx-get="[^"]*entity=', page)
    assert re.search(r'<a href="/entities/DSI" hx-get="/entities/DSI">Clear filters</a>', page)


def test_entity_page_has_its_own_live_filter_box(client, tree):
    page = page_of(client.get("/entities/DSI?q=compensation"))
    form = re.search(r'<form id="search-form"[^>]*>', page).group(0)
    assert 'action="/entities/DSI"' in form and 'method="get"' in form and 'hx-get="/entities/DSI"' in form
    assert "from:#entity-search" in form and 'hx-target="#search-results"' in form
    assert re.search(r'<input id="entity-search" name="q"[^>]*value="compensation"[^>]*data-search-box', page)
    assert '<label for="entity-search">' in page
    assert 'id="global-search"' in page  # the header's box is kept
    assert re.findall(r'class="trigram" href="/applications/(\w+)"', page) == ["BCA", "BCA2"]


def test_entity_page_full_and_partial_from_one_url(client, tree):
    full = client.get("/entities/DSI?q=compensation")
    assert "<!doctype html>" in page_of(full)
    assert "HX-Request" in full.headers["Vary"]
    partial = client.get("/entities/DSI?q=compensation", headers={"HX-Request": "true"})
    region = page_of(partial)
    assert "<!doctype html>" not in region and "site-header" not in region and "Sub-entities" not in region
    assert region.count('id="search-results"') == 1
    assert 'hx-swap-oob="true">2 applications</p>' in region
    assert "HX-Request" in partial.headers["Vary"]


def test_entity_page_history_restore_gets_the_full_page(client, tree):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<!doctype html>" in page_of(client.get("/entities/DSI", headers=headers))


def test_entity_code_is_matched_in_any_case(client, tree):
    page = page_of(client.get("/entities/dsi-pay"))
    assert "<h1>Paiements</h1>" in page
    assert 'action="/entities/DSI-PAY"' in page


def test_leaf_entity_says_it_has_no_sub_entity(client, tree):
    page = page_of(client.get("/entities/DSI-RH"))
    assert "No sub-entity" in page and 'id="sub-entities-heading"' not in page
    assert "1 application" in page


def test_unknown_entity_is_a_404_page_with_close_ones(client, tree):
    page = page_of(client.get("/entities/dsi-pay-xyz"), 404)
    assert "No entity “DSI-PAY-XYZ”" in page
    assert 'href="/entities/DSI-PAY">Paiements</a>' in page  # the nearest existing ancestor
    assert 'href="/entities?q=DSI-PAY-XYZ"' in page


def test_unknown_entity_suggests_entities_containing_the_text(client, tree):
    page = page_of(client.get("/entities/PAY"), 404)
    assert 'href="/entities/DSI-PAY">' in page and 'href="/entities/DSI-PAY-CARD">' in page


def test_unknown_entity_for_htmx_is_an_inline_error(client, tree):
    response = client.get("/entities/NOPE", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert response.get_data(as_text=True).startswith('<p class="inline-error" role="alert">')


def test_entity_page_statements_do_not_grow_with_children_and_applications(client, session, connection):
    owner = make_person(session, "jdupont", "Jean Dupont")

    def statements_for(code: str, size: int) -> int:
        parent = make_entity(session, code, f"Direction {code}", kind="division")
        for number in range(size):
            child = make_entity(session, f"{code}-{number:02d}", f"Équipe {number}", parent=parent)
            application = make_application(session, f"{code}{number:02d}", entity=child)
            add_stakeholder(session, application, owner, "owner")
        reindex(session)
        session.expire_all()
        return count_statements(connection, lambda: page_of(client.get(f"/entities/{code}?page_size=50")))

    page_of(client.get("/entities"))  # a browser's first request may do one-off work
    few, many = statements_for("AAA", 3), statements_for("BBB", 30)
    assert few == many, f"{few} statements for 3 children, {many} for 30"
    assert many <= 15


def test_entity_page_exports_its_subtree(client, tree):
    page = unescape(page_of(client.get("/entities/dsi-pay?status=production")))
    export = re.search(r'href="(/export\?[^"]+format=csv)"', page).group(1)
    assert "entity=DSI-PAY" in export and "status=production" in export
    lines = client.get(export).get_data(as_text=True).splitlines()
    assert [line.split(",")[0].lstrip("\ufeff") for line in lines[1:]] == ["BCA"]
