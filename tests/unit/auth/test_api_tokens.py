"""Bearer tokens on the API: what a script sees for good, bad, expired, revoked and over-reaching tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.auth.tokens import LAST_USED_PRECISION, TOKEN_PATTERN, find_token, hash_secret, issue_token, revoke
from portal.core.access import Scope
from portal.core.models import utcnow
from tests.unit.builders import make_token, make_user


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_unauthorized(response, detail_fragment: str, error: str | None = "invalid_token") -> None:
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert detail_fragment in response.get_json()["detail"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="Referentiel"')
    if error:
        assert f'error="{error}"' in challenge


def test_token_opens_the_api_as_its_owner(anonymous_client, session):
    _, secret = make_token(session, make_user(session, "nifi", "steward"), Scope.READ)
    response = anonymous_client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 200
    assert response.get_json() | {"token": None} == {
        "login": "nifi",
        "display_name": "Nifi",
        "email": "nifi@bank.example",
        "role": "steward",
        "authenticated_by": "token",
        "token": None,
    }
    assert response.get_json()["token"]["scopes"] == ["read"]


def test_seed_search_works_with_a_token(anonymous_client, session):
    _, secret = make_token(session, make_user(session, "script"), Scope.READ)
    response = anonymous_client.get(
        "/api/v1/applications/search?Trigram=Bca&page_size=50&page=1", headers=bearer(secret)
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_api_without_credentials_asks_for_a_token(anonymous_client):
    response = anonymous_client.get("/api/v1/applications")
    assert_unauthorized(response, "Authorization: Bearer", error=None)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"])
def test_malformed_authorization_is_refused(anonymous_client, header):
    response = anonymous_client.get("/api/v1/me", headers={"Authorization": header})
    assert_unauthorized(response, "Authorization: Bearer", error="invalid_request")


@pytest.mark.parametrize("secret", ["ref_abcdefgh_" + "x" * 43, "not-a-token", "ref_" + "é" * 60])
def test_unknown_token_is_refused(anonymous_client, secret):
    response = anonymous_client.get("/api/v1/me", headers=bearer(secret))
    assert_unauthorized(response, "unknown")


def test_revoked_token_is_refused(anonymous_client, session):
    token, secret = make_token(session, make_user(session, "script"))
    revoke(token)
    session.flush()
    assert_unauthorized(anonymous_client.get("/api/v1/me", headers=bearer(secret)), "revoked")


def test_expired_token_is_refused(anonymous_client, session):
    token, secret = make_token(session, make_user(session, "script"), expires_in_days=1)
    token.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    assert_unauthorized(anonymous_client.get("/api/v1/me", headers=bearer(secret)), "expired")


def test_token_of_a_deactivated_account_is_refused(anonymous_client, session):
    user = make_user(session, "leaver")
    _, secret = make_token(session, user)
    user.active = False
    session.flush()
    assert_unauthorized(anonymous_client.get("/api/v1/me", headers=bearer(secret)), "deactivated")


def test_token_without_the_needed_scope_is_forbidden(anonymous_client, session):
    _, secret = make_token(session, make_user(session, "nifi", "admin"), Scope.INGEST)
    response = anonymous_client.get("/api/v1/applications", headers=bearer(secret))
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert "read scope" in response.get_json()["detail"]


def test_write_scope_includes_read(anonymous_client, session):
    _, secret = make_token(session, make_user(session, "editor", "editor"), Scope.WRITE)
    assert anonymous_client.get("/api/v1/applications", headers=bearer(secret)).status_code == 200


def test_token_never_opens_pages(anonymous_client, session):
    _, secret = make_token(session, make_user(session, "script", "admin"))
    response = anonymous_client.get("/admin/users", headers=bearer(secret))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_use_is_recorded_at_most_every_few_minutes(anonymous_client, session):
    token, secret = make_token(session, make_user(session, "script"))
    anonymous_client.get("/api/v1/me", headers=bearer(secret))
    session.refresh(token)
    first_use = token.last_used_at
    assert first_use is not None
    anonymous_client.get("/api/v1/me", headers=bearer(secret))
    session.refresh(token)
    assert token.last_used_at == first_use
    token.last_used_at = first_use - LAST_USED_PRECISION
    session.flush()
    anonymous_client.get("/api/v1/me", headers=bearer(secret))
    session.refresh(token)
    assert token.last_used_at > first_use


def test_bad_tokens_from_one_address_are_rate_limited(anonymous_client):
    unknown = {"Authorization": "Bearer ref_abcdefgh_" + "y" * 43}
    statuses = [anonymous_client.get("/api/v1/me", headers=unknown).status_code for _ in range(12)]
    # 10 guesses at one token's public id, then that id is refused for a while.
    assert statuses == [401] * 10 + [429] * 2
    response = anonymous_client.get("/api/v1/me", headers=unknown)
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0


def test_secret_is_stored_only_as_its_hash(session):
    user = make_user(session, "script")
    token, secret = issue_token(session, user, "nightly", {Scope.READ})
    assert TOKEN_PATTERN.fullmatch(secret)
    assert secret.startswith(token.prefix + "_")
    assert token.secret_hash == hash_secret(secret)
    assert secret not in (token.prefix, token.secret_hash, token.name)
    assert find_token(session, secret) is token


@pytest.mark.parametrize(
    ("name", "scopes", "days", "message"),
    [
        ("  ", {Scope.READ}, None, "name"),
        ("x" * 101, {Scope.READ}, None, "100 characters"),
        ("nightly", set(), None, "scope"),
        ("nightly", {Scope.READ}, 0, "one day"),
    ],
)
def test_bad_token_requests_are_refused(session, name, scopes, days, message):
    from portal.auth.tokens import TokenError

    with pytest.raises(TokenError, match=message):
        issue_token(session, make_user(session, "script"), name, scopes, days)
