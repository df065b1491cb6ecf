"""Signing in and out in a real browser: single sign-on against the test provider, local accounts, API tokens."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.pages import CallbackErrorPage, LoginPage, SearchPage, is_callback

if TYPE_CHECKING:
    from tests.e2e.conftest import LivePortal, LocalAccounts

pytestmark = pytest.mark.e2e

ALICE = ("alice", "alice-password")  # groups ["referentiel-admins"]: admin
BOB = ("bob", "bob-password")  # groups ["contractors"]: mapped to no role
# More steps back than a sign-in and a sign-out leave in the history, the provider's pages included.
MAX_BACK_STEPS = 10
# More than the provider needs between its login form and the callback (resume, consent, resume).
MAX_PROVIDER_REDIRECTS = 10


def assert_signed_out(page: Page, portal_url: str) -> None:
    """The portal has no session for this browser: its home page sends it to the sign-in page."""
    login = SearchPage.open_when_signed_out(page, portal_url)
    expect(login.heading).to_be_visible()
    expect(page).to_have_url(LoginPage.url(portal_url, "/"))


def assert_back_button_shows_no_data(page: Page, *allowed_url_prefixes: str) -> None:
    """Going back through the whole history never shows the results again, only sign-in or signed-out pages."""
    allowed = re.compile("^(?:" + "|".join(re.escape(prefix) for prefix in allowed_url_prefixes) + ")")
    for _ in range(MAX_BACK_STEPS):
        page.go_back()
        if page.url == "about:blank":  # every browser context starts on it: the whole history is walked
            return
        expect(page.get_by_role("region", name="Results")).not_to_be_visible()
        expect(page.get_by_role("link", name="BCA", exact=True)).not_to_be_visible()
        expect(page).to_have_url(allowed)
    raise AssertionError(f"still not back at the start of the history after {MAX_BACK_STEPS} steps back")


def call_me(portal_url: str, secret: str) -> tuple[int, Message, dict[str, Any]]:
    """GET /api/v1/me with the token as a script would: the status, the headers and the JSON body."""
    request = urllib.request.Request(
        f"{portal_url}/api/v1/me", headers={"Authorization": f"Bearer {secret}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, json.load(error)


def test_sso_sign_in_lands_on_the_page_asked_for(page: Page, live_portal: LivePortal) -> None:
    login = SearchPage.open_when_signed_out(page, live_portal.url, "bca")
    expect(page).to_have_url(LoginPage.url(live_portal.url, "/?q=bca"))

    search = login.sign_in_with_sso(live_portal.provider_name).sign_in(*ALICE)

    expect(page).to_have_url(SearchPage.url(live_portal.url, "bca"))
    expect(search.trigram("BCA")).to_be_visible()
    expect(search.user_menu.root).to_contain_text(re.compile(r"Alice Martin\s+admin"))


def test_sso_user_in_no_mapped_group_is_refused_and_not_signed_in(page: Page, live_portal: LivePortal) -> None:
    provider = LoginPage.open(page, live_portal.url).sign_in_with_sso(live_portal.provider_name)

    refused = provider.sign_in_refused_by_portal(*BOB)

    assert refused.status == 403
    expect(refused.heading).to_have_text("You have no access to Referentiel yet")
    expect(refused.main).to_contain_text(live_portal.access_contact)
    expect(refused.main).to_contain_text("referentiel-admins")
    assert_signed_out(page, live_portal.url)


def test_sso_sign_out_ends_the_session_even_for_the_back_button(page: Page, live_portal: LivePortal) -> None:
    login = SearchPage.open_when_signed_out(page, live_portal.url, "bca")
    search = login.sign_in_with_sso(live_portal.provider_name).sign_in(*ALICE)
    expect(search.trigram("BCA")).to_be_visible()

    signed_out = search.user_menu.sign_out_of_sso().confirm()

    expect(signed_out.heading).to_be_visible()
    assert_back_button_shows_no_data(
        page, f"{live_portal.url}/auth/login", f"{live_portal.url}/auth/signed-out", live_portal.provider_issuer
    )
    assert_signed_out(page, live_portal.url)


def test_local_sign_out_ends_the_session_even_for_the_back_button(
    page: Page, live_portal: LivePortal, local_accounts: LocalAccounts
) -> None:
    login = SearchPage.open_when_signed_out(page, live_portal.url, "bca")
    search = login.sign_in_locally(local_accounts.admin.login, local_accounts.admin.password)
    expect(search.trigram("BCA")).to_be_visible()

    signed_out = search.user_menu.sign_out()

    expect(signed_out.heading).to_be_visible()
    assert_back_button_shows_no_data(page, f"{live_portal.url}/auth/login", f"{live_portal.url}/auth/signed-out")
    assert_signed_out(page, live_portal.url)


def test_forged_callback_is_refused(page: Page, live_portal: LivePortal) -> None:
    refused = CallbackErrorPage.open(page, f"{live_portal.url}/auth/callback?code=forged&state=forged")

    assert refused.status == 400
    expect(refused.heading).to_have_text(f"Sign-in with {live_portal.provider_name} failed")
    expect(refused.main).to_contain_text("does not match a sign-in started in this browser")


def test_replayed_callback_is_refused(page: Page, live_portal: LivePortal) -> None:
    provider = LoginPage.open(page, live_portal.url).sign_in_with_sso(live_portal.provider_name)
    with page.expect_request(lambda request: is_callback(request.url)) as callback:
        search = provider.sign_in(*ALICE)
    expect(search.user_menu.root).to_contain_text("Alice Martin")
    expect(search.user_menu.sign_out_of_sso().confirm().heading).to_be_visible()

    refused = CallbackErrorPage.open(page, callback.value.url)

    assert refused.status == 400
    expect(refused.main).to_contain_text("does not match a sign-in started in this browser")
    assert_signed_out(page, live_portal.url)


def test_tampered_authorization_code_is_refused(page: Page, live_portal: LivePortal) -> None:
    tampered: list[str] = []

    def redirect_to_callback_with_another_code(route: Route) -> None:
        # page.route never sees the callback itself: it is a redirect, deep in the chain that starts with the
        # provider's login form. So follow that chain here, up to the callback, and send the browser there with
        # a changed code.
        response = route.fetch(max_redirects=0)
        for _ in range(MAX_PROVIDER_REDIRECTS):
            location = urljoin(response.url, response.headers["location"])
            if is_callback(location):
                break
            response = page.context.request.get(location, max_redirects=0)
        parts = urlsplit(location)
        query = [(name, f"tampered{value}" if name == "code" else value) for name, value in parse_qsl(parts.query)]
        tampered.append(urlunsplit(parts._replace(query=urlencode(query))))
        route.fulfill(status=303, headers={"Location": tampered[-1]})

    page.route(f"{live_portal.provider_issuer}/interaction/*/login", redirect_to_callback_with_another_code)
    provider = LoginPage.open(page, live_portal.url).sign_in_with_sso(live_portal.provider_name)

    refused = provider.sign_in_refused_by_portal(*ALICE)

    assert len(tampered) == 1
    assert is_callback(tampered[0])
    assert refused.status == 400
    expect(refused.main).to_contain_text("refused the sign-in (invalid_grant)")
    assert_signed_out(page, live_portal.url)


def test_cancel_at_the_provider_is_refused_and_not_signed_in(page: Page, live_portal: LivePortal) -> None:
    provider = LoginPage.open(page, live_portal.url).sign_in_with_sso(live_portal.provider_name)

    refused = provider.cancel()

    assert refused.status == 403
    expect(refused.heading).to_have_text(f"Sign-in with {live_portal.provider_name} failed")
    expect(refused.main).to_contain_text("Sign-in was cancelled or consent was refused")
    assert_signed_out(page, live_portal.url)


def test_wrong_local_password_is_refused(page: Page, live_portal: LivePortal, local_accounts: LocalAccounts) -> None:
    login = LoginPage.open(page, live_portal.url)

    refused = login.sign_in_locally_when_refused(local_accounts.admin.login, "not-" + local_accounts.admin.password)

    assert refused.status == 401
    expect(refused.alert).to_have_text("Wrong login or password.")
    expect(refused.heading).to_be_visible()
    expect(refused.login).to_have_value(local_accounts.admin.login)


def test_five_failed_sign_ins_lock_the_account_even_for_the_right_password(
    page: Page, live_portal: LivePortal, local_accounts: LocalAccounts
) -> None:
    account = local_accounts.lockme
    login = LoginPage.open(page, live_portal.url)
    for attempt in range(5):
        login = login.sign_in_locally_when_refused(account.login, f"wrong-password-{attempt}")
        assert login.status == 401
        expect(login.alert).to_have_text("Wrong login or password.")

    locked = login.sign_in_locally_when_refused(account.login, account.password)

    assert locked.status == 429
    expect(locked.alert).to_contain_text(re.compile(r"Too many failed sign-ins\. Try again in \d+ minutes\."))
    assert_signed_out(page, live_portal.url)


def test_api_token_works_until_revoked(page: Page, live_portal: LivePortal, local_accounts: LocalAccounts) -> None:
    admin = local_accounts.admin
    search = SearchPage.open_when_signed_out(page, live_portal.url).sign_in_locally(admin.login, admin.password)
    tokens = search.user_menu.open_tokens()
    secret = tokens.create_token("e2e-script", scopes=("read",))

    status, _, me = call_me(live_portal.url, secret)
    assert status == 200
    assert (me["login"], me["authenticated_by"]) == (admin.login, "token")

    tokens = tokens.revoke("e2e-script")
    expect(tokens.revoke_button("e2e-script")).to_have_count(0)

    status, headers, problem = call_me(live_portal.url, secret)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["Content-Type"].startswith("application/problem+json")
    assert problem["status"] == 401
