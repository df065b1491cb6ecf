"""The home page: a plain search form today; the same URL answers htmx with the results fragment."""

from __future__ import annotations

from portal import __version__
from tests.unit.builders import make_application, reindex


def test_home_page_renders_results_for_a_query(client, session):
    make_application(session, "BCA", "Banque de Compensation")
    reindex(session)
    response = client.get("/?q=bca")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<!doctype html>" in page and 'id="application-results"' in page and "Banque de Compensation" in page
    assert "HX-Request" in response.headers["Vary"]


def test_page_footer_shows_the_version(client, session):
    assert f"Referentiel {__version__}" in client.get("/").get_data(as_text=True)


def test_home_page_answers_htmx_with_the_fragment_only(client, session):
    make_application(session, "BCA", "Banque de Compensation")
    reindex(session)
    response = client.get("/?q=bca", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<section id="application-results"')
    assert "<!doctype html>" not in page
    assert "HX-Request" in response.headers["Vary"]


def test_home_page_shows_a_bad_filter_as_a_page_not_json(client, session):
    response = client.get("/?status=nonsense")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Allowed values" in response.get_data(as_text=True)


def test_htmx_error_gets_an_inline_fragment(client, session):
    response = client.get("/?status=nonsense", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith('<p class="inline-error" role="alert">')
