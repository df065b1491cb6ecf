"""Single sign-on glue: claims to identity, groups to role, users created and refreshed, failures explained.

The OpenID Connect exchange itself (PKCE, state, nonce, ID token verification) runs against a real
provider in tests/e2e; unit tests never talk to an identity provider.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from portal import create_app
from portal.auth import oidc
from portal.auth.oidc import Identity, SignInError
from portal.core.access import Role
from tests.unit.builders import make_user
from tests.unit.conftest import CSRF_TOKEN, sign_in_as

ISSUER = "https://sso.bank.example/realms/bank"
# Nothing listens on the discard port: discovery fails at once, as with a provider that is down.
UNREACHABLE_METADATA = "http://127.0.0.1:9/.well-known/openid-configuration"


@pytest.fixture(scope="session")
def oidc_app(database_url: str) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "OIDC_METADATA_URL": UNREACHABLE_METADATA,
            "OIDC_CLIENT_ID": "referentiel",
            "OIDC_CLIENT_SECRET": "client-secret",
            "OIDC_PROVIDER_NAME": "Bank SSO",
            "OIDC_ROLE_MAP": '{"referentiel-admins": "admin", "it-staff": "reader", "data-stewards": "steward"}',
            "ACCESS_CONTACT": "referentiel-support@bank.example",
        }
    )


@pytest.fixture
def sso_browser(oidc_app, connection):
    with oidc_app.app_context():
        yield oidc_app.test_client()


def identity(**claims: Any) -> Identity:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "subject": "f3b2-alice",
        "login": "alice",
        "display_name": "Alice Martin",
        "email": "alice@bank.example",
        "groups": ("it-staff",),
        "id_token": "header.payload.signature",
    }
    values.update(claims)
    return Identity(**values)


def test_sign_in_page_offers_the_provider(sso_browser):
    page = sso_browser.get("/auth/login?next=/%3Fq%3Dbca").get_data(as_text=True)
    assert "Sign in with Bank SSO" in page
    assert "/auth/sso?next=/?q%3Dbca" in page or "/auth/sso?next=%2F%3Fq%3Dbca" in page


def test_without_local_login_the_sign_in_page_goes_straight_to_the_provider(sso_browser, oidc_app):
    oidc_app.config["LOCAL_LOGIN"] = False
    try:
        response = sso_browser.get("/auth/login?next=/entities")
    finally:
        oidc_app.config["LOCAL_LOGIN"] = True
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/sso?next=/entities"


def test_unreachable_provider_is_explained_on_the_sign_in_page(sso_browser):
    response = sso_browser.get("/auth/sso?next=/")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Bank SSO" in page and "cannot be reached" in page
    assert 'name="password"' in page  # the break-glass local form is still there


def test_a_provider_down_since_the_last_sign_in_is_explained_on_the_sign_in_page(sso_browser, oidc_app, monkeypatch):
    """The discovery document of a sign-in before is not trusted to mean the provider still answers."""
    client = oidc_app.extensions["oidc"].create_client(oidc.CLIENT_NAME)
    kept = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth", "_loaded_at": 1.0}
    monkeypatch.setattr(client, "server_metadata", kept)

    response = sso_browser.get("/auth/sso?next=/")

    assert response.status_code == 503
    assert "cannot be reached" in response.get_data(as_text=True)


def test_callback_without_a_matching_sign_in_is_refused(sso_browser):
    response = sso_browser.get("/auth/callback?code=forged&state=forged")
    assert response.status_code == 400
    assert "does not match a sign-in started in this browser" in response.get_data(as_text=True)
    assert sso_browser.get("/").status_code == 302


def test_refused_consent_is_explained(sso_browser):
    response = sso_browser.get("/auth/callback?error=access_denied&state=whatever")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "cancelled or consent was refused" in page
    assert "Sign-in with Bank SSO failed" in page


def test_callback_signs_in_and_lands_on_the_page_first_asked_for(sso_browser, session, monkeypatch):
    monkeypatch.setattr(oidc, "identity_from_callback", lambda: identity(groups=("referentiel-admins",)))
    with sso_browser.session_transaction() as flask_session:
        flask_session["next_after_login"] = "/?q=bca"
    response = sso_browser.get("/auth/callback?code=c&state=s")
    assert response.status_code == 302
    assert response.headers["Location"] == "/?q=bca"
    me = sso_browser.get("/api/v1/me").get_json()
    assert (me["login"], me["role"], me["display_name"]) == ("alice", "admin", "Alice Martin")


def test_callback_starts_a_new_session_and_the_cookie_from_before_opens_nothing(
    oidc_app, sso_browser, session, monkeypatch
):
    """Session fixation through single sign-on: the browser was signed in (a planted cookie, or a session of
    another account) with a CSRF token of its own; after the callback, a copy of that cookie opens nothing and
    the CSRF token is new."""
    monkeypatch.setattr(oidc, "identity_from_callback", lambda: identity())
    sign_in_as(sso_browser, session, make_user(session, "mallory"))
    thief = oidc_app.test_client()
    thief.set_cookie("referentiel_session", sso_browser.get_cookie("referentiel_session").value)

    assert sso_browser.get("/auth/callback?code=c&state=s").status_code == 302

    assert sso_browser.get("/api/v1/me").get_json()["login"] == "alice"
    with sso_browser.session_transaction() as flask_session:
        assert flask_session.get("csrf_token") != CSRF_TOKEN
    assert thief.get("/api/v1/me").status_code == 401


def test_user_in_no_mapped_group_gets_a_403_that_says_whom_to_ask(sso_browser, session, monkeypatch):
    monkeypatch.setattr(oidc, "identity_from_callback", lambda: identity(login="bob", groups=("contractors",)))
    response = sso_browser.get("/auth/callback?code=c&state=s")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "referentiel-support@bank.example" in page and "referentiel-admins" in page and "contractors" in page
    assert sso_browser.get("/api/v1/me").status_code == 401
    from portal.auth.queries import find_user_by_login

    assert find_user_by_login(session, "bob") is None  # nothing half-created


def test_highest_mapped_role_wins(oidc_app):
    with oidc_app.app_context():
        assert oidc.role_for(identity(groups=("it-staff", "data-stewards", "other"))) == Role.STEWARD


def test_default_role_applies_to_users_in_no_mapped_group(oidc_app):
    oidc_app.config["OIDC_DEFAULT_ROLE"] = Role.READER
    try:
        with oidc_app.app_context():
            assert oidc.role_for(identity(groups=())) == Role.READER
    finally:
        oidc_app.config["OIDC_DEFAULT_ROLE"] = None


def test_missing_groups_claim_is_named(oidc_app):
    with oidc_app.app_context(), pytest.raises(SignInError, match="sent no “groups” claim") as raised:
        oidc.role_for(identity(groups=()))
    assert raised.value.status == 403


def test_identity_merges_claims_with_fallbacks(oidc_app):
    with oidc_app.app_context():
        found = oidc._identity(ISSUER, {"sub": "42", "email": "Carl@Bank.example", "groups": "a, b c"}, "t")
    assert (found.login, found.display_name, found.groups) == (
        "carl@bank.example",
        "Carl@Bank.example",
        ("a", "b", "c"),
    )


def test_first_sign_in_creates_the_user_and_later_ones_refresh_them(oidc_app, session):
    with oidc_app.app_context():
        created = oidc.upsert_user(session, identity(), Role.READER)
        session.flush()
        refreshed = oidc.upsert_user(session, identity(display_name="Alice Dupont", email=None), Role.ADMIN)
    assert refreshed is created
    assert (refreshed.display_name, refreshed.email, refreshed.role) == ("Alice Dupont", None, "admin")
    assert (refreshed.auth_source, refreshed.oidc_subject) == ("oidc", "f3b2-alice")


def test_provider_user_is_never_merged_into_an_existing_local_account(oidc_app, session):
    make_user(session, "alice", "admin")
    with oidc_app.app_context(), pytest.raises(SignInError, match="Another account already uses") as raised:
        oidc.upsert_user(session, identity(), Role.READER)
    assert raised.value.status == 409


def test_deactivated_provider_user_cannot_sign_in(oidc_app, session):
    with oidc_app.app_context():
        user = oidc.upsert_user(session, identity(), Role.READER)
        user.active = False
        session.flush()
        with pytest.raises(SignInError, match="deactivated"):
            oidc.upsert_user(session, identity(), Role.READER)
