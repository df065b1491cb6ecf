"""The search page (home): full page or htmx region from one URL, facets with counts, links that keep state."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest

from portal import __version__
from portal.applications.queries import find_application
from portal.people.queries import find_person
from tests.unit.builders import (
    add_stakeholder,
    make_application,
    make_entity,
    make_environment,
    make_person,
    reindex,
)
from tests.unit.statements import count_statements, statements_run


@pytest.fixture
def referential(session):
    """Two entities under one group, applications in several statuses and environments."""
    group = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division")
    payments = make_entity(session, "DSI-PAY", "Paiements", kind="department", parent=group)
    markets = make_entity(session, "DSI-MKT", "Marchés", kind="department", parent=group)
    owner = make_person(session, "jdupont", "Jean Dupont")
    bca = make_application(session, "BCA", "Banque de Compensation", entity=payments)
    make_application(session, "BCA2", "Banque de Compensation v2", entity=payments, status="build")
    make_application(session, "MKT", "Marchés de capitaux", entity=markets, status="retired")
    add_stakeholder(session, bca, owner, "owner")
    make_environment(session, bca, "prod", servers=("par-lx-bca-p01",))
    reindex(session)
    session.expire_all()


def page_of(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def facet_count(page: str, name: str, value: str) -> int | None:
    match = re.search(rf'name="{name}" value="{value}"[^>]*>\s*<span>[^<]*</span> <span class="count">([\d,]+)', page)
    return int(match.group(1).replace(",", "")) if match else None


def test_full_page_has_the_search_box_facets_and_results(client, referential):
    response = client.get("/?q=banque")
    page = page_of(response)
    assert "<!doctype html>" in page
    assert 'id="global-search"' in page and 'value="banque"' in page
    assert 'id="search-results"' in page
    assert "2 applications" in page
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_gets_the_results_region_and_the_count_out_of_band(client, referential):
    response = client.get("/?q=banque", headers={"HX-Request": "true"})
    page = page_of(response)
    assert "<!doctype html>" not in page and "site-header" not in page
    assert 'id="result-status"' in page and 'hx-swap-oob="true"' in page
    assert page.count('id="search-results"') == 1
    assert "HX-Request" in response.headers["Vary"]


def test_history_restore_gets_the_full_page(client, referential):
    response = client.get("/?q=banque", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<!doctype html>" in page_of(response)


def test_exact_trigram_comes_first_and_is_marked_for_enter(client, referential):
    page = page_of(client.get("/?q=bca"))
    trigrams = re.findall(r'class="trigram" href="/applications/(\w+)"', page)
    assert trigrams[0] == "BCA"
    assert 'data-exact-trigram="BCA"' in page


def test_results_say_why_they_matched_with_highlights(client, referential):
    page = page_of(client.get("/?q=par-lx-bca"))
    assert "<mark>" in page and "hosts" in page


def test_facets_count_each_value_without_their_own_filter(client, referential):
    page = page_of(client.get("/?q=banque&status=production"))
    assert "1 application" in page
    # Ticking "build" as well would add one: the status counts ignore the status filter.
    assert facet_count(page, "status", "production") == 1
    assert facet_count(page, "status", "build") == 1
    assert 'value="production" checked' in page
    assert facet_count(page, "environment", "prod") == 1


def test_entity_facet_drills_down_the_tree(client, referential):
    top = page_of(client.get("/"))
    assert re.search(r"Direction des Syst[^<]*</a> <span class=\"count\">3</span>", unescape(top))
    inside = unescape(page_of(client.get("/?entity=DSI")))
    assert re.search(r">Paiements</a> <span class=\"count\">2</span>", inside)
    assert re.search(r">Marchés</a> <span class=\"count\">1</span>", inside)
    assert 'aria-current="true">Direction' in inside  # the breadcrumb ends on the chosen entity


def test_links_keep_the_state_and_go_back_to_page_one(client, referential):
    page = unescape(page_of(client.get("/?q=banque&status=production&page=1&page_size=1&sort=name")))
    clear = urlsplit(re.search(r'href="([^"]+)"[^>]*>Clear filters', page).group(1))
    assert (clear.path, sorted(parse_qsl(clear.query))) == (
        "/",
        [("page_size", "1"), ("q", "banque"), ("sort", "name")],
    )


def test_pagination_links_carry_every_parameter(client, referential):
    page = unescape(page_of(client.get("/?q=banque&page_size=1")))
    assert 'href="/?q=banque&page_size=1&page=2"' in page
    assert 'rel="next"' in page


def test_no_result_suggests_close_trigrams(client, referential):
    page = page_of(client.get("/?q=bcb"))
    assert "No application matches" in page
    assert "Did you mean" in page and ">BCA<" in page


def test_estimated_count_says_about(client, referential, monkeypatch):
    from portal.applications import listing
    from portal.applications.search import ApplicationPage

    real = listing.search_applications

    def estimated(*args, **kwargs):
        found = real(*args, **kwargs)
        return ApplicationPage(found.results, 29_000, True)

    monkeypatch.setattr(listing, "search_applications", estimated)
    assert "About 29,000 applications" in page_of(client.get("/?q=banque"))


def test_export_links_carry_the_search_without_the_page(client, referential):
    page = unescape(page_of(client.get("/?q=banque&status=build&page=2&page_size=1")))
    assert 'href="/export?q=banque&status=build&format=xlsx"' in page


def test_unknown_parameters_are_ignored_by_the_page(client, referential):
    page = unescape(page_of(client.get("/?q=banque&utm_source=mail")))
    assert "utm_source" not in page


def test_works_without_javascript(client, referential):
    page = page_of(client.get("/?q=banque"))
    form = re.search(r'<form id="search-form"[^>]*>', page).group(0)
    assert 'action="/"' in form and 'method="get"' in form
    assert 'class="no-js-only"' in page  # an Apply button for the facets


def test_bad_filter_is_a_page_not_json(client, session):
    response = client.get("/?status=nonsense")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Allowed values" in response.get_data(as_text=True)


def test_htmx_error_gets_an_inline_fragment(client, session):
    response = client.get("/?status=nonsense", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith('<p class="inline-error" role="alert">')


def test_page_footer_shows_the_version(client, session):
    assert f"Referentiel {__version__}" in client.get("/").get_data(as_text=True)


def test_search_page_statements_do_not_grow_with_the_results(client, session, connection):
    """No N+1: rendering 3 or 40 results costs the same number of statements."""
    entity = make_entity(session, "DSI", "DSI")
    person = make_person(session, "jdupont", "Jean Dupont")

    def statements_for(count: int, prefix: str) -> int:
        for number in range(count):
            application = make_application(session, f"{prefix}{number:03d}", f"Banque {prefix} {number}", entity=entity)
            add_stakeholder(session, application, person, "owner")
            make_environment(session, application, "prod", servers=(f"srv-{prefix}-{number}",))
        reindex(session)
        session.expire_all()
        return count_statements(connection, lambda: page_of(client.get(f"/?q={prefix.lower()}&page_size=50")))

    few, many = statements_for(3, "AAA"), statements_for(40, "BBB")
    assert few == many
    assert many <= 20


def test_role_facet_counts_the_chosen_persons_roles(client, session, referential):
    other = make_person(session, "mmartin", "Marie Martin")
    add_stakeholder(session, find_application(session, "BCA2"), other, "support")
    add_stakeholder(session, find_application(session, "BCA2"), find_person(session, "jdupont"), "tech_lead")
    reindex(session)
    page = page_of(client.get("/?person=jdupont"))
    assert facet_count(page, "role", "owner") == 1
    assert facet_count(page, "role", "tech_lead") == 1
    assert facet_count(page, "role", "support") is None  # Marie's role, not Jean's


def test_facets_fixed_by_the_page_are_not_counted(session, connection, referential):
    from portal.applications.facets import count_facets
    from portal.applications.queries import ApplicationFilters

    filters = ApplicationFilters(q="banque", entity="DSI-PAY")
    every = count_statements(connection, lambda: count_facets(session, filters, 500))
    facets = []
    fixed = count_statements(
        connection, lambda: facets.append(count_facets(session, filters, 500, frozenset({"entity"})))
    )
    assert fixed < every  # neither the entity counts nor the entity tree
    assert facets[0].entity_children == [] and facets[0].entity_path == []
    assert [item.value for item in facets[0].status] == ["build", "production"]


def test_the_search_and_its_facets_share_the_texts_look_ups(client, connection, referential):
    """What the text names (entities, hostnames, typo alternatives) is looked up once, not per facet group."""
    statements = statements_run(
        connection, lambda: page_of(client.get("/?q=banque&status=production", headers={"HX-Request": "true"}))
    )
    assert sum("referentiel_unaccent(lower(entity.name))" in sql for sql in statements) == 1
