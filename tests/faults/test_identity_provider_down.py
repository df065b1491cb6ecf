"""The identity provider down: sessions opened before keep working (they live in the portal's database, not at the
provider), and whoever tries to sign in with it is told on the sign-in page that it cannot be reached.

Alice signs in through the real provider (the npm package `oidc-provider`, PKCE, state and nonce checked), with an
HTTP client that follows the flow as a browser does; then the provider is stopped.
"""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import urljoin

import pytest
import requests

from tests.e2e.oidc import running_oidc_provider
from tests.faults.conftest import HTTP_TIMEOUT_S, PAGE, IdentityProvider, Referential
from tests.faults.servers import Portal

pytestmark = pytest.mark.faults

ALICE = ("alice", "alice-password")  # groups ["referentiel-admins"]: admin (tests/e2e/oidc_server/server.mjs)
SSO_LINK = re.compile(r'href="([^"]*/auth/sso[^"]*)"')
PROVIDER_FORM = re.compile(r'action="([^"]*/login)"')
# More fresh browsers than workers, so that each worker answers some: each may have kept the provider's discovery
# document from the sign-in before.
ATTEMPTS = 6


def sso_link(browser: requests.Session, portal: Portal) -> str:
    """The "Sign in with ..." link of the sign-in page."""
    page = browser.get(f"{portal.url}/auth/login?next=/", headers=PAGE, timeout=HTTP_TIMEOUT_S)
    assert page.status_code == 200
    link = SSO_LINK.search(page.text)
    assert link, "the sign-in page offers no single sign-on"
    return urljoin(page.url, unescape(link.group(1)))


def sign_in_with_sso(portal: Portal, login: str, password: str) -> requests.Session:
    """A browser signed in through the provider: the portal's link, the provider's form, back to the portal."""
    browser = requests.Session()
    provider_page = browser.get(sso_link(browser, portal), headers=PAGE, timeout=HTTP_TIMEOUT_S)
    form = PROVIDER_FORM.search(provider_page.text)
    assert form, f"no sign-in form at the provider: {provider_page.url}"
    landed = browser.post(
        urljoin(provider_page.url, form.group(1)),
        data={"username": login, "password": password},
        headers=PAGE,
        timeout=HTTP_TIMEOUT_S,
    )
    assert landed.url == f"{portal.url}/" and landed.status_code == 200, f"{landed.status_code} at {landed.url}"
    return browser


def test_the_identity_provider_down_keeps_open_sessions_and_the_sign_in_page_says_so(
    portal: Portal, identity_provider: IdentityProvider, referential: Referential, figures: list[str]
) -> None:
    with running_oidc_provider(
        identity_provider.port,
        client_id=identity_provider.client_id,
        client_secret=identity_provider.client_secret,
        redirect_uri=f"{portal.url}/auth/callback",
        post_logout_redirect_uri=f"{portal.url}/auth/signed-out",
    ):
        alice = sign_in_with_sso(portal, *ALICE)
    # The provider is stopped now.

    home = alice.get(f"{portal.url}/", headers=PAGE, allow_redirects=False, timeout=HTTP_TIMEOUT_S)
    application = alice.get(
        f"{portal.url}/applications/{referential.trigrams[0]}",
        headers=PAGE,
        allow_redirects=False,
        timeout=HTTP_TIMEOUT_S,
    )
    me = alice.get(f"{portal.url}/api/v1/me", timeout=HTTP_TIMEOUT_S)
    attempts = []
    for _ in range(ATTEMPTS):
        newcomer = requests.Session()
        link = sso_link(newcomer, portal)
        started = time.monotonic()
        attempts.append(
            (
                newcomer.get(link, headers=PAGE, allow_redirects=False, timeout=HTTP_TIMEOUT_S),
                time.monotonic() - started,
            )
        )

    assert home.status_code == 200 and "Alice Martin" in home.text
    assert application.status_code == 200 and referential.trigrams[0] in application.text
    assert me.status_code == 200 and (me.json()["login"], me.json()["authenticated_by"]) == ("alice", "session")
    for answer, _ in attempts:
        assert answer.status_code == 503, f"{answer.status_code} {answer.headers.get('Location')}"
        assert f"The identity provider ({identity_provider.name}) cannot be reached right now" in answer.text
        assert 'name="password"' in answer.text  # the local sign-in stays offered (a break-glass admin)
    slowest = max(seconds for _, seconds in attempts)
    figures.append("open session after the provider stopped: home page, application page and /api/v1/me answer 200")
    figures.append(
        f"{ATTEMPTS} sign-in attempts: a 503 sign-in page saying the provider cannot be reached, "
        f"the slowest in {slowest * 1000:.0f} ms"
    )
