"""An optional shared cache of search answers in Redis, for replicas that serve the same searches.

Search answers depend only on the referential, never on who asks, so a cached answer is right for
everyone until the referential changes. Every write that touches the search index bumps a
*generation* number in Redis after its commit; cache keys include the generation, so a change
makes every older answer unreachable at once (they expire on their own). Redis being slow or down
never fails a request: the answer is then computed as if there were no cache.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import redis
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

GENERATION_KEY = "search:generation"
# Set by `portal.search.index` on the session that changed the index; read after commit.
SEARCH_CHANGED = "search_changed"


class SearchCache:
    """Cached JSON answers keyed by a request's normalised query and the current generation."""

    def __init__(self) -> None:
        self._client: Any = None
        self._seconds = 0
        self._prefix = "referentiel:"

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL")
        self._seconds = int(app.config.get("SEARCH_CACHE_SECONDS", 0))
        self._prefix = str(app.config.get("REDIS_PREFIX", "referentiel:"))
        if not url or self._seconds <= 0:
            self._client = None
            return
        # Short timeouts: a cache that makes requests wait is worse than no cache.
        self._client = redis.Redis.from_url(url, socket_timeout=0.1, socket_connect_timeout=0.2)

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def key(self, scope: str, query: list[tuple[str, str]]) -> str | None:
        """The cache key of a request, or None when the cache is off or unreachable."""
        if self._client is None:
            return None
        generation = self._call("get", self._prefix + GENERATION_KEY)
        if generation is False:
            return None
        digest = hashlib.blake2b(repr(sorted(query)).encode(), digest_size=16).hexdigest()
        return f"{self._prefix}search:{int(generation or 0)}:{scope}:{digest}"

    def get(self, key: str | None) -> bytes | None:
        if key is None:
            return None
        value = self._call("get", key)
        return value if isinstance(value, bytes) else None

    def put(self, key: str | None, body: bytes) -> None:
        if key is not None:
            self._call("set", key, body, ex=self._seconds)

    def invalidate(self) -> None:
        """Make every cached answer unreachable: the referential has changed."""
        if self._client is not None:
            self._call("incr", self._prefix + GENERATION_KEY)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except redis.RedisError as error:
            log.warning("search cache unavailable (%s): answering without it", type(error).__name__)
            return False


search_cache = SearchCache()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(SEARCH_CHANGED, None)


@event.listens_for(Session, "after_commit")
def _invalidate_after_commit(session: Session) -> None:
    if session.info.pop(SEARCH_CHANGED, False):
        search_cache.invalidate()
