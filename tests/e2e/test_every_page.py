"""Every page, checked by axe-core and photographed at desktop and phone widths, light and dark.

axe-core (npm, pinned in package.json) is injected into each page; no serious or critical violation
is allowed. The screenshots land in tests/e2e/artifacts/ (git-ignored), for people to look at.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import BrowserContext, Page

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
    ("api-docs", "/api/docs", True),
    ("sign-in", "/auth/login", False),
    ("signed-out", "/auth/signed-out", False),
]
WIDTHS = {"desktop": 1280, "phone": 375}


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + json.dumps([node["target"] for node in violation["nodes"][:3]])
        for violation in results["violations"]
        if violation["impact"] in BLOCKING
    ]


@pytest.fixture
def open_as(
    signed_in_context: Callable[..., BrowserContext], browser_context_args: dict, browser
) -> Callable[[bool, int, str], Page]:
    """A page of a new context, signed in or not, at a width and colour scheme. axe is injected as a script
    tag, which the Content-Security-Policy forbids: only these contexts bypass it."""
    contexts: list[BrowserContext] = []

    def open_page(signed_in: bool, width: int, scheme: str) -> Page:
        options = {"viewport": {"width": width, "height": 900}, "color_scheme": scheme, "bypass_csp": True}
        if signed_in:
            context = signed_in_context(**options)
        else:
            context = browser.new_context(**{**browser_context_args, **options})
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.mark.parametrize(("name", "path", "signed_in"), PAGES, ids=[page[0] for page in PAGES])
def test_page_has_no_serious_accessibility_violation(open_as, live_portal: LivePortal, name, path, signed_in) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    problems: dict[str, list[str]] = {}
    for width_name, width in WIDTHS.items():
        for scheme in ("light", "dark"):
            page = open_as(signed_in, width, scheme)
            response = page.goto(live_portal.url + path)
            assert response is not None and response.status < 500
            page.screenshot(path=str(ARTIFACTS / f"{name}-{width_name}-{scheme}.png"), full_page=True)
            found = serious_violations(page)
            if found:
                problems[f"{width_name} {scheme}"] = found
    assert problems == {}
