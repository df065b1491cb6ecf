"""The integrator's journeys in a real browser: search as you type, facets, history, pages, export.

The portal serves the XS demo referential (seed 42); BCA is "Base Cartes SEPA", and "gestion" is a
word of hundreds of application names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.pages import ApplicationPage, SearchPage

if TYPE_CHECKING:
    from tests.e2e.conftest import LivePortal

pytestmark = pytest.mark.e2e


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_lowercase_trigram_gives_the_exact_hit_first_and_enter_opens_it(
    signed_in_page: Page, live_portal: LivePortal
) -> None:
    search = SearchPage.open(signed_in_page, live_portal.url)

    search.search_box.press_sequentially("bca", delay=30)

    expect(search.first_result_link()).to_have_text("BCA")
    expect(signed_in_page).to_have_url(re.compile(r"\?q=bca$"))
    search.search_box.press("Enter")
    application = ApplicationPage(signed_in_page)
    expect(application.heading).to_contain_text("Base Cartes SEPA")
    expect(signed_in_page).to_have_url(f"{live_portal.url}/applications/BCA")


def test_arrow_keys_walk_the_results_and_enter_opens_one(signed_in_page: Page, live_portal: LivePortal) -> None:
    search = SearchPage.open(signed_in_page, live_portal.url, "gestion")
    second = search.result_items.nth(1).get_by_role("link").first
    trigram = second.inner_text()

    search.search_box.focus()
    signed_in_page.keyboard.press("ArrowDown")
    signed_in_page.keyboard.press("ArrowDown")
    expect(second).to_be_focused()
    signed_in_page.keyboard.press("Enter")

    expect(signed_in_page).to_have_url(f"{live_portal.url}/applications/{trigram}")


def test_facet_narrows_the_results_and_updates_counts_and_url(signed_in_page: Page, live_portal: LivePortal) -> None:
    search = SearchPage.open(signed_in_page, live_portal.url, "gestion")
    before = search.status.inner_text()

    search.facet("Retired").check()

    expect(signed_in_page).to_have_url(re.compile(r"status=retired"))
    expect(search.status).not_to_have_text(before)
    expect(search.status).to_have_text(re.compile(r"^\d+ applications?$"))
    badges = search.results.get_by_text("retired", exact=True)
    expect(badges.first).to_be_visible()
    assert badges.count() == search.result_items.count()
    expect(search.facet("Retired")).to_be_checked()


def test_reload_and_back_restore_the_state(signed_in_page: Page, live_portal: LivePortal) -> None:
    search = SearchPage.open(signed_in_page, live_portal.url, "gestion")
    search.facet("Retired").check()
    expect(signed_in_page).to_have_url(re.compile(r"status=retired"))
    narrowed = search.status.inner_text()

    signed_in_page.reload()
    expect(search.facet("Retired")).to_be_checked()
    expect(search.status).to_have_text(narrowed)
    expect(search.search_box).to_have_value("gestion")

    signed_in_page.go_back()
    expect(signed_in_page).to_have_url(SearchPage.url(live_portal.url, "gestion"))
    expect(search.facet("Retired")).not_to_be_checked()
    signed_in_page.go_forward()
    expect(search.facet("Retired")).to_be_checked()


def test_pagination_moves_through_the_results(signed_in_page: Page, live_portal: LivePortal) -> None:
    search = SearchPage.open(signed_in_page, live_portal.url, "gestion")
    first_page = search.first_result_link().inner_text()

    search.pages.get_by_role("link", name="Next").click()

    expect(signed_in_page).to_have_url(re.compile(r"page=2"))
    expect(search.pages.get_by_text("2", exact=True)).to_have_attribute("aria-current", "page")
    expect(search.first_result_link()).not_to_have_text(first_page)
    search.pages.get_by_role("link", name="Previous").click()
    expect(search.first_result_link()).to_have_text(first_page)


def test_application_entity_and_person_pages_open_from_the_results(
    signed_in_page: Page, live_portal: LivePortal
) -> None:
    search = SearchPage.open(signed_in_page, live_portal.url, "bca")
    result = search.result_items.first
    owner = result.get_by_role("link").nth(2).inner_text()

    result.get_by_role("link", name="BCA", exact=True).click()
    application = ApplicationPage(signed_in_page)
    expect(application.heading).to_contain_text("Base Cartes SEPA")

    signed_in_page.go_back()
    search.result_items.first.get_by_role("link").nth(1).click()
    expect(signed_in_page).to_have_url(re.compile(r"/entities/[\w-]+$"))
    expect(signed_in_page.get_by_role("navigation", name="Breadcrumb")).to_be_visible()

    signed_in_page.go_back()
    search.result_items.first.get_by_role("link", name=owner).click()
    expect(signed_in_page).to_have_url(re.compile(r"/people/[\w.-]+$"))
    expect(signed_in_page.get_by_role("heading", level=1)).to_contain_text(owner)


def test_excel_export_holds_the_rows_of_the_search(signed_in_page: Page, live_portal: LivePortal) -> None:
    search = SearchPage.open(signed_in_page, live_portal.url, "gestion")
    search.facet("Retired").check()
    expect(signed_in_page).to_have_url(re.compile(r"status=retired"))
    expected = int(re.match(r"(\d+)", search.status.inner_text()).group(1))

    with signed_in_page.expect_download() as download:
        search.results.get_by_role("link", name="Excel").click()

    workbook = load_workbook(BytesIO(Path(download.value.path()).read_bytes()))
    rows = list(workbook["Applications"].iter_rows(values_only=True))
    assert rows[0][:4] == ("Trigram", "Name", "Description", "Status")
    assert len(rows) - 1 == expected
    assert {row[3] for row in rows[1:]} == {"retired"}
    assert download.value.suggested_filename.endswith(".xlsx")


def test_search_works_without_javascript(
    signed_in_context: Callable[..., BrowserContext], live_portal: LivePortal
) -> None:
    page = signed_in_context(java_script_enabled=False).new_page()
    search = SearchPage.open(page, live_portal.url)

    search.search_box.fill("gestion")
    search.search_box.press("Enter")
    expect(search.status).to_have_text(re.compile(r"applications"))
    assert query_of(page)["q"] == ["gestion"]
    search.facet("Retired").check()
    search.filters.get_by_role("button", name="Apply filters").click()

    expect(page).to_have_url(re.compile(r"status=retired"))
    expect(search.status).to_have_text(re.compile(r"^\d+ applications?$"))


def test_a_failed_request_shows_a_small_message_and_keeps_the_results(
    signed_in_page: Page, live_portal: LivePortal
) -> None:
    search = SearchPage.open(signed_in_page, live_portal.url, "gestion")
    first = search.first_result_link().inner_text()
    signed_in_page.route(re.compile(r".*/\?q=gestionx.*"), lambda route: route.abort())

    search.search_box.press("End")
    search.search_box.press_sequentially("x")

    expect(signed_in_page.get_by_role("alert")).to_have_text(re.compile("did not answer"))
    expect(search.first_result_link()).to_have_text(first)
