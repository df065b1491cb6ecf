"""The shared search cache in Redis (the server at 127.0.0.1:6379, keys under a prefix of this run)."""

from __future__ import annotations

import uuid

import pytest
import redis
from flask import Flask

from portal.core.cache import search_cache
from portal.search.index import refresh_applications
from tests.unit.builders import make_application, reindex

REDIS_URL = "redis://127.0.0.1:6379/0"
URL = "/api/v1/applications/search?q=bca"


def configure_cache(app: Flask, redis_url: str, prefix: str) -> None:
    cache_app = Flask("cache-under-test")
    cache_app.config.update(REDIS_URL=redis_url, SEARCH_CACHE_SECONDS=30, REDIS_PREFIX=prefix)
    search_cache.init_app(cache_app)


@pytest.fixture
def cache(app):
    prefix = f"referentiel-test-{uuid.uuid4().hex}:"
    configure_cache(app, REDIS_URL, prefix)
    yield redis.Redis.from_url(REDIS_URL)
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    search_cache.init_app(app)  # back to the application's own settings: no cache


@pytest.fixture
def bca(session):
    application = make_application(session, "BCA", "Banque de Compensation")
    reindex(session)
    session.commit()
    return application


def test_second_identical_search_is_answered_from_the_cache(client, cache, bca):
    first = client.get(URL)
    second = client.get(URL)
    assert first.headers["X-Cache"] == "miss"
    assert second.headers["X-Cache"] == "hit"
    assert second.get_data() == first.get_data()
    assert second.headers["ETag"] == first.headers["ETag"]


def test_cached_answer_still_honours_if_none_match(client, cache, bca):
    etag = client.get(URL).headers["ETag"]
    assert client.get(URL, headers={"If-None-Match": etag}).status_code == 304


def test_a_committed_change_to_the_index_drops_cached_answers(client, cache, session, bca):
    client.get(URL)
    bca.name = "Banque de Compensation Renommée"
    refresh_applications(session, [bca.id])
    session.commit()
    response = client.get(URL)
    assert response.headers["X-Cache"] == "miss"
    assert response.get_json()["results"][0]["name"] == "Banque de Compensation Renommée"


def test_a_rolled_back_change_keeps_cached_answers(client, cache, session, bca):
    client.get(URL)
    refresh_applications(session, [bca.id])
    session.rollback()
    assert client.get(URL).headers["X-Cache"] == "hit"


def test_other_parameters_are_other_entries(client, cache, bca):
    client.get(URL)
    assert client.get(URL + "&page_size=5").headers["X-Cache"] == "miss"


def test_search_answers_without_the_cache_when_redis_is_unreachable(client, app, bca):
    configure_cache(app, "redis://127.0.0.1:1/0", "referentiel-test-unreachable:")
    try:
        response = client.get(URL)
    finally:
        search_cache.init_app(app)
    assert response.status_code == 200
    assert response.get_json()["results"][0]["trigram"] == "BCA"


def test_no_cache_header_when_the_cache_is_off(client, bca):
    assert "X-Cache" not in client.get(URL).headers
