"""Limits on failures (local sign-ins, bad API tokens), per client address and per account.

Each limit is a fixed window that opens at a key's first failure: once `limit` failures are counted, the key
is blocked until its window closes. Counts live in this process's memory, or in Redis when `REDIS_URL` is set,
so that every replica sees the same counts. A Redis outage must neither take sign-in down nor lift the limits:
the counts then fall back to memory until Redis answers again.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import redis
from flask import Flask

log = logging.getLogger(__name__)

MAX_MEMORY_KEYS = 100_000
# After a Redis error, count in memory for this long before trying Redis again: a sign-in then does not
# wait for a timeout at every check, and the warning is logged once per pause rather than once per request.
REDIS_PAUSE_SECONDS = 30.0

# The increment and the expiry of a new window in one atomic step: a crash between the two would otherwise
# leave a key that never expires, blocking its owner for good. Any key found without an expiry gets one.
_RECORD_FAILURE_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
"""


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` failures per `window_seconds` for one key."""

    name: str  # e.g. "login-account", part of the storage key
    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds < 1:
            raise ValueError(f"rate limit {self.name!r} needs a limit and a window of at least 1")


def storage_key(rule: RateLimit, key: str) -> str:
    """The bounded name under which a key's failures are counted (without the Redis prefix).

    Keys come from user input (a login name, an address), so they are hashed: a 10 KB login must not
    become a 10 KB entry.
    """
    # "surrogatepass": odd input must be counted like any other, never raise.
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"ratelimit:{rule.name}:{digest}"


@dataclass
class _Window:
    count: int
    ends_at: float


class MemoryCounts:
    """Failure windows held by this process: a dict bounded to `max_keys` entries, safe across threads."""

    def __init__(self, max_keys: int = MAX_MEMORY_KEYS) -> None:
        self.max_keys = max_keys
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._windows)

    def retry_after(self, key: str, limit: int, now: float) -> int:
        """Seconds until the key's window closes if it has reached `limit`, else 0."""
        with self._lock:
            window = self._windows.get(key)
            if window is None or window.count < limit or window.ends_at <= now:
                return 0
            return max(1, math.ceil(window.ends_at - now))

    def add(self, key: str, window_seconds: int, now: float) -> int:
        """Count one failure; return the failures in the key's current window."""
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window.ends_at > now:
                window.count += 1
                return window.count
            # A new window: re-insert the key so that the dict order stays oldest window first.
            self._windows.pop(key, None)
            if len(self._windows) >= self.max_keys:
                self._make_room(now)
            self._windows[key] = _Window(count=1, ends_at=now + window_seconds)
            return 1

    def delete(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)

    def _make_room(self, now: float) -> None:
        """Drop expired windows, then the oldest ones; the caller holds the lock."""
        self._windows = {key: window for key, window in self._windows.items() if window.ends_at > now}
        if len(self._windows) >= self.max_keys:
            # A flood of new keys leaves nothing expired: free a tenth at once, so that the scan above
            # runs once per many new keys instead of at each one.
            excess = len(self._windows) - self.max_keys + max(1, self.max_keys // 10)
            for key in list(islice(self._windows, excess)):
                del self._windows[key]


class RateLimiter:
    """Failure counts per rule and key, shared through Redis when it is configured."""

    def __init__(self, max_memory_keys: int = MAX_MEMORY_KEYS, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # replaced by a fake in tests, so that windows pass without sleeping
        self.memory = MemoryCounts(max_memory_keys)
        self._client: redis.Redis | None = None
        self._record_script: Any = None
        self._prefix = "referentiel:"
        self._redis_paused_until = -math.inf

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL")
        self._prefix = str(app.config.get("REDIS_PREFIX", "referentiel:"))
        self._redis_paused_until = -math.inf
        app.extensions["rate_limiter"] = self
        if not url:
            self._client = None
            return
        # Short timeouts: sign-in must stay quick even when Redis is slow.
        self._client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
        self._record_script = self._client.register_script(_RECORD_FAILURE_SCRIPT)

    def retry_after(self, rule: RateLimit, key: str) -> int:
        """0 when the key may try again, else the seconds until its window closes (at least 1)."""
        name = storage_key(rule, key)
        # Counts made in memory during a Redis outage still apply once Redis is back.
        seconds = self.memory.retry_after(name, rule.limit, self.clock())
        client = self._redis()
        if client is not None:
            try:
                seconds = max(seconds, self._redis_retry_after(client, rule, name))
            except redis.RedisError as error:
                self._pause_redis(error)
        return seconds

    def record_failure(self, rule: RateLimit, key: str) -> int:
        """Count one failure for the key; return the failures in its current window."""
        name = storage_key(rule, key)
        if self._redis() is not None:
            try:
                return int(self._record_script(keys=[self._prefix + name], args=[rule.window_seconds * 1000]))
            except redis.RedisError as error:
                self._pause_redis(error)
        return self.memory.add(name, rule.window_seconds, self.clock())

    def reset(self, rule: RateLimit, key: str) -> None:
        """Forget the key's failures, e.g. after a successful sign-in for the account key."""
        name = storage_key(rule, key)
        self.memory.delete(name)
        client = self._redis()
        if client is not None:
            try:
                client.delete(self._prefix + name)
            except redis.RedisError as error:
                self._pause_redis(error)

    def _redis(self) -> redis.Redis | None:
        """The Redis client, or None when there is none or it failed a moment ago."""
        if self._client is None or self.clock() < self._redis_paused_until:
            return None
        return self._client

    def _redis_retry_after(self, client: redis.Redis, rule: RateLimit, name: str) -> int:
        # One transaction, so that the count and its expiry describe the same window.
        with client.pipeline(transaction=True) as pipeline:
            pipeline.get(self._prefix + name)
            pipeline.pttl(self._prefix + name)
            count, milliseconds = pipeline.execute()
        if int(count or 0) < rule.limit or milliseconds == -2:  # -2: the key has just expired
            return 0
        if milliseconds < 0:  # no expiry, which the record script never leaves: block for a whole window
            return rule.window_seconds
        return max(1, math.ceil(milliseconds / 1000))

    def _pause_redis(self, error: redis.RedisError) -> None:
        log.warning(
            "rate limits counted in this process for %.0fs: Redis unavailable (%s)",
            REDIS_PAUSE_SECONDS,
            type(error).__name__,
        )
        self._redis_paused_until = self.clock() + REDIS_PAUSE_SECONDS


rate_limiter = RateLimiter()
