"""Verified tokens cached in Redis (the server at 127.0.0.1:6379, keys under a prefix of this test).

A cached search with a token must not touch the database, and no cached grant may outlive a
revocation, a deactivation or a change of role.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from portal.core.access import Scope
from portal.core.cache import search_cache, token_cache
from portal.core.models import utcnow
from tests.unit.builders import make_application, make_token, make_user, reindex
from tests.unit.conftest import CSRF_TOKEN, sign_in_as
from tests.unit.statements import count_statements

REDIS_URL = "redis://127.0.0.1:6379/0"
SEARCH = "/api/v1/applications/search?q=bca"


@pytest.fixture
def caches(app) -> Iterator[None]:
    prefix = f"referentiel-test-{uuid.uuid4().hex}:"
    cache_app = Flask("caches-under-test")
    cache_app.config.update(REDIS_URL=REDIS_URL, SEARCH_CACHE_SECONDS=30, REDIS_PREFIX=prefix)
    search_cache.init_app(cache_app)
    token_cache.init_app(cache_app)
    yield
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    search_cache.init_app(app)  # back to the application's own settings: no cache
    token_cache.init_app(app)


@pytest.fixture
def script(session):
    """A reader's read token, and the referential it searches."""
    make_application(session, "BCA", "Banque de Compensation")
    reindex(session)
    user = make_user(session, "script")
    token, secret = make_token(session, user, Scope.READ)
    session.commit()
    return user, token, {"Authorization": f"Bearer {secret}"}


def test_cached_search_with_a_token_does_not_touch_the_database(anonymous_client, connection, caches, script):
    _, _, headers = script
    assert anonymous_client.get(SEARCH, headers=headers).status_code == 200
    response = []
    statements = count_statements(connection, lambda: response.append(anonymous_client.get(SEARCH, headers=headers)))
    assert response[0].status_code == 200
    assert response[0].headers["X-Cache"] == "hit"
    assert statements == 0


def test_revocation_drops_the_cached_grant_at_once(client, anonymous_client, session, caches, script):
    _, token, headers = script
    assert anonymous_client.get("/api/v1/me", headers=headers).status_code == 200
    admin = make_user(session, "root", "admin")
    sign_in_as(client, session, admin).post(f"/account/tokens/{token.id}/revoke", headers={"X-CSRF-Token": CSRF_TOKEN})
    assert anonymous_client.get("/api/v1/me", headers=headers).status_code == 401


def test_deactivation_drops_the_cached_grant_at_once(anonymous_client, session, caches, script):
    user, _, headers = script
    assert anonymous_client.get("/api/v1/me", headers=headers).status_code == 200
    user.active = False
    session.commit()
    assert anonymous_client.get("/api/v1/me", headers=headers).status_code == 401


def test_new_role_applies_at_once(anonymous_client, session, caches, script):
    user, _, headers = script
    assert anonymous_client.get("/api/v1/me", headers=headers).get_json()["role"] == "reader"
    user.role = "steward"
    session.commit()
    assert anonymous_client.get("/api/v1/me", headers=headers).get_json()["role"] == "steward"


def test_tokens_still_work_when_redis_is_down(app, anonymous_client, caches, script):
    _, _, headers = script
    broken = Flask("redis-down")
    broken.config.update(REDIS_URL="redis://127.0.0.1:1/0", REDIS_PREFIX="unreachable:")
    token_cache.init_app(broken)
    assert anonymous_client.get("/api/v1/me", headers=headers).status_code == 200


def test_a_sign_in_keeps_the_cached_grants(session, caches, script):
    user, _, _ = script
    generation = redis.Redis.from_url(REDIS_URL).get(token_cache._generation_key)
    user.last_login_at = utcnow()
    user.display_name = "Renamed"
    session.commit()
    assert redis.Redis.from_url(REDIS_URL).get(token_cache._generation_key) == generation
    user.active = False
    session.commit()
    assert redis.Redis.from_url(REDIS_URL).get(token_cache._generation_key) != generation
