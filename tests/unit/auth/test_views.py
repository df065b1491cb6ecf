"""Sign-in, sign-out and the account pages, as a browser sees them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.auth.models import ApiToken, LoginSession
from portal.core.models import utcnow
from tests.unit.builders import make_login_session, make_token, make_user
from tests.unit.conftest import CSRF_TOKEN, sign_in_as

PASSWORD = "correct horse battery"


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def post_login(client, login: str, password: str, next_url: str = "/"):
    page = client.get("/auth/login").get_data(as_text=True)
    form = {"login": login, "password": password, "next": next_url, "csrf_token": csrf_of(page)}
    return client.post("/auth/login", data=form)


def test_anonymous_page_visit_is_sent_to_sign_in_with_the_page_to_come_back_to(anonymous_client):
    response = anonymous_client.get("/?q=bca&page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=%2F%3Fq%3Dbca%26page%3D2"


def test_sign_in_page_shows_the_local_form(anonymous_client):
    page = anonymous_client.get("/auth/login").get_data(as_text=True)
    assert 'name="password"' in page
    assert "Sign in with" not in page  # no identity provider configured here


def test_local_sign_in_lands_on_the_page_first_asked_for(anonymous_client, session):
    make_user(session, "alice", "editor", password=PASSWORD)
    response = post_login(anonymous_client, "Alice ", PASSWORD, next_url="/?q=bca")
    assert response.status_code == 303
    assert response.headers["Location"] == "/?q=bca"
    me = anonymous_client.get("/api/v1/me").get_json()
    assert (me["login"], me["role"], me["authenticated_by"]) == ("alice", "editor", "session")


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "/%0d%0aX: y"]
)
def test_sign_in_never_redirects_off_site(anonymous_client, session, next_url):
    make_user(session, "alice", password=PASSWORD)
    location = post_login(anonymous_client, "alice", PASSWORD, next_url=next_url).headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "\\" not in location and "\r" not in location and "\n" not in location


def test_sign_in_starts_a_new_session(anonymous_client, session):
    make_user(session, "alice", password=PASSWORD)
    before = anonymous_client.get("/auth/login").get_data(as_text=True)
    post_login(anonymous_client, "alice", PASSWORD)
    after = anonymous_client.get("/account/tokens").get_data(as_text=True)
    assert csrf_of(before) != csrf_of(after)
    assert session.scalar(select(func.count()).select_from(LoginSession)) == 1


def test_wrong_password_is_refused_with_the_same_message_as_an_unknown_login(anonymous_client, session):
    make_user(session, "alice", password=PASSWORD)
    wrong = post_login(anonymous_client, "alice", "wrong password")
    unknown = post_login(anonymous_client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong login or password." in wrong.get_data(as_text=True)
    assert "Wrong login or password." in unknown.get_data(as_text=True)
    assert anonymous_client.get("/account/tokens").status_code == 302


def test_repeated_wrong_passwords_lock_the_account_for_a_while(anonymous_client, session):
    make_user(session, "alice", password=PASSWORD)
    statuses = [post_login(anonymous_client, "alice", f"guess {n}").status_code for n in range(5)]
    locked = post_login(anonymous_client, "alice", PASSWORD)
    assert statuses == [401] * 5
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 0


def test_deactivated_account_cannot_sign_in(anonymous_client, session):
    make_user(session, "leaver", password=PASSWORD, active=False)
    response = post_login(anonymous_client, "leaver", PASSWORD)
    assert response.status_code == 403
    assert "deactivated" in response.get_data(as_text=True)


def test_account_without_password_cannot_sign_in(anonymous_client, session):
    make_user(session, "nifi", "steward")
    assert post_login(anonymous_client, "nifi", "").status_code == 401


def test_local_sign_in_can_be_turned_off(anonymous_client, session, app):
    make_user(session, "alice", password=PASSWORD)
    token = csrf_of(anonymous_client.get("/auth/login").get_data(as_text=True))
    app.config["LOCAL_LOGIN"] = False
    try:
        page = anonymous_client.get("/auth/login").get_data(as_text=True)
        response = anonymous_client.post(
            "/auth/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token}
        )
    finally:
        app.config["LOCAL_LOGIN"] = True
    assert 'name="password"' not in page
    assert response.status_code == 403


def test_sign_in_form_without_csrf_token_is_sent_back(anonymous_client, session):
    make_user(session, "alice", password=PASSWORD)
    anonymous_client.get("/auth/login")
    response = anonymous_client.post("/auth/login", data={"login": "alice", "password": PASSWORD})
    assert response.status_code == 303
    assert anonymous_client.get("/account/tokens").status_code == 302


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(app, session):
    user = make_user(session, "alice")
    browser = sign_in_as(app.test_client(), session, user)
    copied_cookie = browser.get_cookie("referentiel_session").value
    response = browser.post("/auth/logout", headers={"X-CSRF-Token": CSRF_TOKEN})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/auth/signed-out")
    thief = app.test_client()
    thief.set_cookie("referentiel_session", copied_cookie)
    assert thief.get("/api/v1/me").status_code == 401


def test_expired_login_session_is_signed_out(app, session):
    user = make_user(session, "alice")
    browser = app.test_client()
    key = make_login_session(session, user, expires_in=timedelta(seconds=-1))
    with browser.session_transaction() as flask_session:
        flask_session["_user_id"] = key
    assert browser.get("/api/v1/me").status_code == 401


def test_deactivation_by_an_admin_ends_the_users_sessions(app, session, login_as):
    user = make_user(session, "leaver")
    browser = sign_in_as(app.test_client(), session, user)
    admin = login_as("admin")
    response = admin.post(f"/admin/users/{user.id}", data={"role": "reader", "active": "0", "csrf_token": CSRF_TOKEN})
    assert response.status_code == 303
    assert browser.get("/api/v1/me").status_code == 401
    assert session.scalar(select(func.count()).select_from(LoginSession).where(LoginSession.user_id == user.id)) == 0


def copy_of(app, browser):
    """A second browser holding a copy of `browser`'s session cookie, as a thief who lifted it would."""
    thief = app.test_client()
    thief.set_cookie("referentiel_session", browser.get_cookie("referentiel_session").value)
    return thief


def test_sign_in_changes_the_session_cookie_and_the_one_from_before_opens_nothing(app, anonymous_client, session):
    """Session fixation: a cookie planted before sign-in (or seen on the sign-in page) is not signed in after."""
    make_user(session, "alice", password=PASSWORD)
    anonymous_client.get("/auth/login")
    planted = anonymous_client.get_cookie("referentiel_session").value
    thief = copy_of(app, anonymous_client)

    post_login(anonymous_client, "alice", PASSWORD)

    assert anonymous_client.get_cookie("referentiel_session").value != planted
    assert anonymous_client.get("/api/v1/me").get_json()["login"] == "alice"
    assert thief.get("/api/v1/me").status_code == 401


def test_signing_in_again_ends_the_previous_session_for_every_copy_of_its_cookie(app, anonymous_client, session):
    make_user(session, "alice", password=PASSWORD)
    make_user(session, "bob", password=PASSWORD)
    post_login(anonymous_client, "alice", PASSWORD)
    thief = copy_of(app, anonymous_client)
    token = csrf_of(anonymous_client.get("/account/tokens").get_data(as_text=True))

    response = anonymous_client.post("/auth/login", data={"login": "bob", "password": PASSWORD, "csrf_token": token})

    assert response.status_code == 303
    assert anonymous_client.get("/api/v1/me").get_json()["login"] == "bob"
    assert thief.get("/api/v1/me").status_code == 401
    assert session.scalar(select(func.count()).select_from(LoginSession)) == 1


def test_deactivation_ends_every_copy_of_the_cookie_for_good(app, session, login_as):
    """The login sessions are deleted, not only refused while the account is inactive: reactivating it does not
    revive a copied cookie."""
    user = make_user(session, "leaver")
    thief = copy_of(app, sign_in_as(app.test_client(), session, user))
    admin = login_as("admin")

    admin.post(f"/admin/users/{user.id}", data={"role": "reader", "active": "0", "csrf_token": CSRF_TOKEN})
    refused = thief.get("/api/v1/me").status_code
    admin.post(f"/admin/users/{user.id}", data={"role": "reader", "active": "1", "csrf_token": CSRF_TOKEN})

    assert refused == 401
    assert thief.get("/api/v1/me").status_code == 401


def test_admin_changes_a_role(session, login_as):
    user = make_user(session, "bob")
    admin = login_as("admin")
    admin.post(f"/admin/users/{user.id}", data={"role": "steward", "active": "1", "csrf_token": CSRF_TOKEN})
    session.refresh(user)
    assert user.role == "steward"
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "bob" in page and "steward" in page


def test_admin_cannot_demote_themself(session, app):
    admin_user = make_user(session, "root", "admin")
    admin = sign_in_as(app.test_client(), session, admin_user)
    admin.post(f"/admin/users/{admin_user.id}", data={"role": "reader", "active": "1", "csrf_token": CSRF_TOKEN})
    session.refresh(admin_user)
    assert admin_user.role == "admin"


def test_unknown_role_is_refused(session, login_as):
    user = make_user(session, "bob")
    response = login_as("admin").post(f"/admin/users/{user.id}", data={"role": "god", "csrf_token": CSRF_TOKEN})
    assert response.status_code == 400
    session.refresh(user)
    assert user.role == "reader"


def test_create_a_token_shows_its_secret_once(client, session):
    response = client.post(
        "/account/tokens",
        data={"name": "nightly-export", "scope": ["read"], "expires_in_days": "30", "csrf_token": CSRF_TOKEN},
    )
    page = response.get_data(as_text=True)
    secret = re.search(r'value="(ref_[^"]+)"', page).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    token = session.scalars(select(ApiToken).where(ApiToken.name == "nightly-export")).one()
    assert token.expires_at - utcnow() > timedelta(days=29)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert secret not in client.get("/account/tokens").get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "scope": ["read"]}, "Give the token a name"),
        ({"name": "x", "scope": []}, "at least one scope"),
        ({"name": "x", "scope": ["root"]}, "Choose the scopes offered"),
        ({"name": "x", "scope": ["read"], "expires_in_days": "soon"}, "Choose the scopes offered"),
    ],
)
def test_bad_token_form_is_refused_and_creates_nothing(client, session, form, message):
    response = client.post("/account/tokens", data={**form, "csrf_token": CSRF_TOKEN})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_revoke_own_token(client, session):
    me = client.get("/api/v1/me").get_json()["login"]
    from portal.auth.queries import find_user_by_login

    token, secret = make_token(session, find_user_by_login(session, me), name="old-script")
    response = client.post(f"/account/tokens/{token.id}/revoke", headers={"X-CSRF-Token": CSRF_TOKEN})
    assert response.status_code == 303
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_cannot_revoke_someone_elses_token(client, session):
    token, _ = make_token(session, make_user(session, "other"))
    response = client.post(f"/account/tokens/{token.id}/revoke", headers={"X-CSRF-Token": CSRF_TOKEN})
    assert response.status_code == 404
    session.refresh(token)
    assert token.revoked_at is None


def test_admin_revokes_anyones_token(session, login_as):
    token, _ = make_token(session, make_user(session, "other"))
    admin = login_as("admin")
    assert "other" in admin.get("/admin/users").get_data(as_text=True)
    admin.post(f"/account/tokens/{token.id}/revoke", headers={"X-CSRF-Token": CSRF_TOKEN})
    session.refresh(token)
    assert token.revoked_at is not None


def test_state_changing_request_without_csrf_token_is_refused(client, session):
    htmx = client.post("/account/tokens", data={"name": "x", "scope": ["read"]}, headers={"HX-Request": "true"})
    assert htmx.status_code == 400
    assert "Reload the page" in htmx.get_data(as_text=True)
    form = client.post("/account/tokens", data={"name": "x", "scope": ["read"], "csrf_token": "forged"})
    assert form.status_code == 303
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_cross_site_post_is_refused_even_with_a_token(client, session):
    response = client.post(
        "/account/tokens",
        data={"name": "x", "scope": ["read"], "csrf_token": CSRF_TOKEN},
        headers={"Origin": "https://evil.example", "HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "another site" in response.get_data(as_text=True)


def test_htmx_request_after_the_session_ended_redirects_the_whole_page(anonymous_client):
    response = anonymous_client.get("/?q=bca", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/auth/login?next=")


def test_reader_is_refused_the_admin_page(client):
    response = client.get("/admin/users")
    assert response.status_code == 403
    assert "admin role" in response.get_data(as_text=True)


def test_user_menu_shows_name_role_and_sign_out(client):
    page = client.get("/").get_data(as_text=True)
    assert "Test-Reader" in page and "reader" in page
    assert 'action="/auth/logout"' in page
    assert "My API tokens" in page


@pytest.mark.parametrize("path", ["/", "/auth/login", "/api/v1/applications", "/healthz", "/nope"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers


def test_https_gets_hsts_and_secure_cookies(anonymous_client):
    response = anonymous_client.get("/auth/login", base_url="https://referentiel.bank.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_cookie_is_httponly_and_lax(anonymous_client):
    cookie = anonymous_client.get("/auth/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_sign_in_clears_the_users_expired_sessions(anonymous_client, session):
    user = make_user(session, "alice", password=PASSWORD)
    make_login_session(session, user, expires_in=timedelta(seconds=-1))
    post_login(anonymous_client, "alice", PASSWORD)
    sessions = session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)).all()
    assert len(sessions) == 1 and sessions[0].expires_at > utcnow()
