"""Optional shared caches in Redis, for replicas that answer the same questions.

Two caches use it: search answers (they depend only on the referential, never on who asks) and
verified API tokens (so that a cached search does not pay a database round trip to check its token).
Every commit that changes what a cache holds bumps that cache's *generation* number in Redis after
the commit; cache keys include the generation, so a change makes every older entry unreachable at
once (they expire on their own). Redis being slow or down never fails a request: the answer is then
computed as if there were no cache.
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

# Set by `portal.search.index` on the session that changed the index; read after commit.
SEARCH_CHANGED = "search_changed"
# Set on a session that changed an account or a token (see portal/auth/tokens.py); read after commit.
TOKENS_CHANGED = "tokens_changed"


class GenerationCache:
    """Cached bytes keyed by a normalised query and the current generation of the cache's `name`."""

    def __init__(self, name: str, seconds_setting: str | None = None, seconds: int = 0) -> None:
        self.name = name
        self._seconds_setting = seconds_setting
        self._client: Any = None
        self._seconds = seconds
        self._prefix = "referentiel:"

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL")
        if self._seconds_setting:
            self._seconds = int(app.config.get(self._seconds_setting, 0))
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
        generation = self._call("get", self._generation_key)
        if generation is False:
            return None
        digest = hashlib.blake2b(repr(sorted(query)).encode(), digest_size=16).hexdigest()
        return f"{self._prefix}{self.name}:{int(generation or 0)}:{scope}:{digest}"

    @property
    def _generation_key(self) -> str:
        return f"{self._prefix}{self.name}:generation"

    def get(self, key: str | None) -> bytes | None:
        if key is None:
            return None
        value = self._call("get", key)
        return value if isinstance(value, bytes) else None

    def put(self, key: str | None, body: bytes) -> None:
        if key is not None:
            self._call("set", key, body, ex=self._seconds)

    def invalidate(self) -> None:
        """Make every cached entry unreachable: what it was computed from has changed."""
        if self._client is not None:
            self._call("incr", self._generation_key)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except redis.RedisError as error:
            log.warning("%s cache unavailable (%s): answering without it", self.name, type(error).__name__)
            return False


search_cache = GenerationCache("search", seconds_setting="SEARCH_CACHE_SECONDS")
# Short-lived: should a generation bump be lost (Redis down at that moment), a revoked token is
# refused again within this many seconds.
token_cache = GenerationCache("token", seconds=30)
CHANGE_FLAGS = {SEARCH_CHANGED: search_cache, TOKENS_CHANGED: token_cache}


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    for flag in CHANGE_FLAGS:
        session.info.pop(flag, None)


@event.listens_for(Session, "after_commit")
def _invalidate_after_commit(session: Session) -> None:
    for flag, cache in CHANGE_FLAGS.items():
        if session.info.pop(flag, False):
            cache.invalidate()
