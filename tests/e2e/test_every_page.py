"""Every page, checked by axe-core and photographed at desktop and phone widths, light and dark.

axe-core (npm, pinned in package.json) is injected into each page; no serious or critical violation
is allowed. The screenshots (each page's first dozen screens) land in tests/e2e/artifacts/ (git-ignored), for
people to look at.
The pages of imports and conflicts are checked with something to show: a dry run uploaded over HTTP, and
a conflict between two workbook sources loaded with the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.pages import XLSX, ImportRunPage
from tests.unit.imports.workbooks import workbook_bytes

if TYPE_CHECKING:
    from tests.e2e.conftest import LivePortal

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BLOCKING = {"serious", "critical"}

# (name, path, signed in): one of each page a user can reach.
PAGES = [
    ("search-home", "/", True),
    ("search-results", "/?q=gestion", True),
    ("search-filtered", "/?q=gestion&status=production&environment=prod", True),
    ("search-no-result", "/?q=bcb", True),
    ("application", "/applications/BCA", True),
    ("application-unknown", "/applications/BCB", True),
    ("entities", "/entities", True),
    ("entity", "/entities/BFI-FIN-CUS", True),
    ("person", "/people/cparis", True),
    ("api-tokens", "/account/tokens", True),
    ("admin-users", "/admin/users", True),
    ("imports", "/imports", True),
    ("import-run", "/imports/{}", True),
    ("conflicts", "/conflicts", True),
    ("application-sources", "/applications/{}", True),
    ("sources", "/sources", True),
    ("api-docs", "/api/docs", True),
    ("sign-in", "/auth/login", False),
    ("signed-out", "/auth/signed-out", False),
]
WIDTHS = {"desktop": 1280, "phone": 375}
SCREENSHOT_MAX_HEIGHT = 8000  # pixels: a dozen screens
# Pages that show data made for them first: the fixture that makes it, whose value fills the "{}" of the path.
SEEDED_BY = {
    "imports": "dry_run",
    "import-run": "dry_run",
    "conflicts": "open_conflict",
    "application-sources": "open_conflict",
}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def serious_violations(page: Page) -> list[str]:
    """What axe (injected by `add_axe`) finds of serious or critical on the page as it is now."""
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + json.dumps([node["target"] for node in violation["nodes"][:3]])
        for violation in results["violations"]
        if violation["impact"] in BLOCKING
    ]


def photograph(page: Page, path: Path, width: int) -> None:
    """The page from its top down to at most `SCREENSHOT_MAX_HEIGHT`: the API documentation is 100,000 pixels
    tall at phone width, which nobody looks through, and encoding it took longer than checking it."""
    height = min(page.evaluate("document.documentElement.scrollHeight"), SCREENSHOT_MAX_HEIGHT)
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})


def add_axe(page: Page) -> None:
    page.add_script_tag(path=str(AXE))


@pytest.fixture
def open_as(
    signed_in_context: Callable[..., BrowserContext], new_context: Callable[..., BrowserContext]
) -> Callable[[bool], Page]:
    """A page of a new context, signed in or not (made by `new_context`: closed after the test, with a trace and
    screenshots if it fails). axe is injected as a script tag, which the Content-Security-Policy forbids: only
    these contexts bypass it."""

    def open_page(signed_in: bool) -> Page:
        options = {"bypass_csp": True}
        return (signed_in_context(**options) if signed_in else new_context(**options)).new_page()

    return open_page


@pytest.fixture(scope="module")
def dry_run(
    browser: Browser, browser_context_args: dict[str, Any], signed_in_state: dict[str, Any], live_portal: LivePortal
) -> int:
    """The number of a workbook's dry run, ready for review: a row to create, one to update, one in error.
    Uploaded as the local admin with an HTTP request (not through the form), then awaited on its page."""
    workbook = workbook_bytes(
        {
            "Applications": [
                ["Trigram", "Name", "Description", "Status"],
                ["ZQR1", "Portail des Relations Tiers", "Third-party relations portal", "build"],
                ["BCA", "Base Cartes SEPA", "Cards and SEPA payments reference", None],
                ["ZQR2", "Registre", None, "someday"],
            ]
        }
    )
    context = browser.new_context(**browser_context_args, storage_state=signed_in_state)
    try:
        form = context.request.get(f"{live_portal.url}/imports")
        token = CSRF_FIELD.search(form.text())
        assert token, "no CSRF field on the Imports page"
        upload = {"name": "review.xlsx", "mimeType": XLSX, "buffer": workbook}
        answer = context.request.post(
            f"{live_portal.url}/imports",
            multipart={"csrf_token": token.group(1), "source": "workbook", "file": upload},
            max_redirects=0,
        )
        assert answer.status == 303, answer.text()
        run = ImportRunPage.open(context.new_page(), live_portal.url, int(answer.headers["location"].rsplit("/", 1)[1]))
        expect(run.status(ImportRunPage.READY)).to_be_visible()
        return run.run_id
    finally:
        context.close()


@pytest.fixture(scope="module")
def open_conflict(portal_cli: Callable[..., str], import_workbook: Callable[..., int]) -> str:
    """The trigram of a demo application whose description two workbook sources state differently."""
    trigram = "BCF"
    portal_cli("sources", "create", "e2e-legacy", "--kind", "excel", "--precedence", "40")
    for source, description in (("workbook", "Cartes: the stewards' word"), ("e2e-legacy", "Cartes: the old list")):
        rows = [["Trigram", "Description"], [trigram, description]]
        import_workbook(workbook_bytes({"Applications": rows}), source=source)
    return trigram


@pytest.mark.parametrize(("name", "path", "signed_in"), PAGES, ids=[page[0] for page in PAGES])
def test_page_has_no_serious_accessibility_violation(
    request: pytest.FixtureRequest, open_as, live_portal: LivePortal, name, path, signed_in
) -> None:
    if name in SEEDED_BY:
        path = path.format(request.getfixturevalue(SEEDED_BY[name]))
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_as(signed_in)
    response = page.goto(live_portal.url + path)
    assert response is not None and response.status < 500
    add_axe(page)
    problems: dict[str, list[str]] = {}
    # The same page at each width and colour scheme: the portal's layout and colours follow the viewport and
    # `prefers-color-scheme` through CSS alone, so resizing and switching lay it out as loading it there would
    # (loading it four times cost the stage about a minute).
    for width_name, width in WIDTHS.items():
        for scheme in ("light", "dark"):
            page.set_viewport_size({"width": width, "height": 900})
            page.emulate_media(color_scheme=scheme)
            photograph(page, ARTIFACTS / f"{name}-{width_name}-{scheme}.png", width)
            found = serious_violations(page)
            if found:
                problems[f"{width_name} {scheme}"] = found
    assert problems == {}
