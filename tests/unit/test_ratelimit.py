"""Rate limits on failures, in memory and in Redis (the server at 127.0.0.1:6379, keys under a prefix per test)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from portal.core.ratelimit import REDIS_PAUSE_SECONDS, RateLimit, RateLimiter, storage_key

REDIS_URL = "redis://127.0.0.1:6379/0"
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
LOGIN = RateLimit("login-account", limit=3, window_seconds=60)
LOGIN_ADDRESS = RateLimit("login-address", limit=3, window_seconds=60)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_app(redis_url: str = "", prefix: str = "referentiel-test:") -> Flask:
    app = Flask(__name__)
    app.config.update(REDIS_URL=redis_url, REDIS_PREFIX=prefix)
    return app


def fail(limiter: RateLimiter, rule: RateLimit, key: str, times: int) -> None:
    for _ in range(times):
        limiter.record_failure(rule, key)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis prefix of this test only; its keys are deleted afterwards."""
    prefix = f"referentiel-test-{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture
def redis_limiter(clock: FakeClock, prefix: str) -> RateLimiter:
    limiter = RateLimiter(clock=clock)
    limiter.init_app(make_app(REDIS_URL, prefix))
    return limiter


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest, clock: FakeClock) -> RateLimiter:
    """The same behaviour is expected from both backends."""
    if request.param == "redis":
        return request.getfixturevalue("redis_limiter")
    limiter = RateLimiter(clock=clock)
    limiter.init_app(make_app())
    return limiter


def test_init_app_registers_the_limiter():
    app = make_app()
    limiter = RateLimiter()
    limiter.init_app(app)
    assert app.extensions["rate_limiter"] is limiter


def test_rule_is_rejected_when_its_limit_is_zero():
    with pytest.raises(ValueError):
        RateLimit("login-account", limit=0, window_seconds=60)


def test_allowed_when_below_the_limit(limiter):
    fail(limiter, LOGIN, "alice", LOGIN.limit - 1)
    assert limiter.retry_after(LOGIN, "alice") == 0


def test_allowed_when_no_failure_was_recorded(limiter):
    assert limiter.retry_after(LOGIN, "alice") == 0


def test_record_failure_returns_the_failures_in_the_window(limiter):
    assert [limiter.record_failure(LOGIN, "alice") for _ in range(4)] == [1, 2, 3, 4]


def test_blocked_for_the_rest_of_the_window_when_the_limit_is_reached(limiter):
    fail(limiter, LOGIN, "alice", LOGIN.limit)
    assert 1 <= limiter.retry_after(LOGIN, "alice") <= LOGIN.window_seconds


def test_allowed_again_after_reset(limiter):
    fail(limiter, LOGIN, "alice", LOGIN.limit)
    limiter.reset(LOGIN, "alice")
    assert limiter.retry_after(LOGIN, "alice") == 0
    assert limiter.record_failure(LOGIN, "alice") == 1


def test_keys_are_independent(limiter):
    fail(limiter, LOGIN, "alice", LOGIN.limit)
    assert limiter.retry_after(LOGIN, "bob") == 0


def test_rules_are_independent_when_the_key_is_the_same(limiter):
    fail(limiter, LOGIN, "10.0.0.1", LOGIN.limit)
    assert limiter.retry_after(LOGIN_ADDRESS, "10.0.0.1") == 0


def test_long_keys_are_independent_when_they_differ_only_at_the_end(limiter):
    long_key = "x" * 10_000
    fail(limiter, LOGIN, long_key + "a", LOGIN.limit)
    assert limiter.retry_after(LOGIN, long_key + "a") > 0
    assert limiter.retry_after(LOGIN, long_key + "b") == 0


def test_storage_key_is_short_when_the_key_is_long():
    assert len(storage_key(LOGIN, "x" * 10_000)) < 100


def test_storage_key_accepts_a_lone_surrogate():
    assert storage_key(LOGIN, "\ud800") != storage_key(LOGIN, "")


# Memory backend: the fake clock moves windows along without sleeping.


@pytest.fixture
def memory_limiter(clock: FakeClock) -> RateLimiter:
    limiter = RateLimiter(clock=clock)
    limiter.init_app(make_app())
    return limiter


def test_retry_after_counts_down_with_the_clock(memory_limiter, clock):
    fail(memory_limiter, LOGIN, "alice", LOGIN.limit)
    clock.advance(45.5)
    assert memory_limiter.retry_after(LOGIN, "alice") == 15


def test_allowed_again_when_the_window_has_passed(memory_limiter, clock):
    fail(memory_limiter, LOGIN, "alice", LOGIN.limit)
    clock.advance(LOGIN.window_seconds)
    assert memory_limiter.retry_after(LOGIN, "alice") == 0
    assert memory_limiter.record_failure(LOGIN, "alice") == 1


def test_window_starts_at_the_first_failure(memory_limiter, clock):
    memory_limiter.record_failure(LOGIN, "alice")
    clock.advance(50)
    fail(memory_limiter, LOGIN, "alice", LOGIN.limit - 1)
    assert memory_limiter.retry_after(LOGIN, "alice") == 10


def test_memory_stays_within_its_bound_when_keys_keep_changing(clock):
    limiter = RateLimiter(max_memory_keys=10, clock=clock)
    for number in range(1000):
        limiter.record_failure(LOGIN, f"10.0.{number // 256}.{number % 256}")
    assert len(limiter.memory) <= 10


def test_memory_drops_the_oldest_windows_when_full(clock):
    rule = RateLimit("login-address", limit=1, window_seconds=60)
    limiter = RateLimiter(max_memory_keys=10, clock=clock)
    fail(limiter, rule, "first", 1)
    for number in range(10):
        limiter.record_failure(rule, f"address-{number}")
    assert limiter.retry_after(rule, "first") == 0
    assert limiter.retry_after(rule, "address-9") > 0


def test_memory_drops_expired_windows_before_recent_ones_when_full(clock):
    short = RateLimit("short", limit=1, window_seconds=10)
    long = RateLimit("long", limit=1, window_seconds=600)
    limiter = RateLimiter(max_memory_keys=10, clock=clock)
    fail(limiter, long, "oldest-but-current", 1)
    for number in range(9):
        limiter.record_failure(short, f"address-{number}")
    clock.advance(20)
    limiter.record_failure(short, "newcomer")
    assert limiter.retry_after(long, "oldest-but-current") > 0
    assert len(limiter.memory) == 2


# Redis backend.


def test_redis_key_always_has_an_expiry(redis_limiter, prefix):
    fail(redis_limiter, LOGIN, "alice", 2)
    client = redis.Redis.from_url(REDIS_URL)
    (key,) = client.keys(f"{prefix}*")
    assert 0 < client.pttl(key) <= LOGIN.window_seconds * 1000


def test_redis_key_is_short_when_the_key_is_long(redis_limiter, prefix):
    redis_limiter.record_failure(LOGIN, "x" * 10_000)
    (key,) = redis.Redis.from_url(REDIS_URL).keys(f"{prefix}*")
    assert len(key) < len(prefix) + 100


def test_counts_are_shared_when_two_replicas_use_the_same_redis(redis_limiter, prefix):
    other_replica = RateLimiter()
    other_replica.init_app(make_app(REDIS_URL, prefix))
    fail(redis_limiter, LOGIN, "alice", LOGIN.limit - 1)
    other_replica.record_failure(LOGIN, "alice")
    assert redis_limiter.retry_after(LOGIN, "alice") > 0


def test_allowed_again_when_the_redis_window_has_passed(redis_limiter):
    rule = RateLimit("login-account", limit=1, window_seconds=1)
    redis_limiter.record_failure(rule, "alice")
    assert redis_limiter.retry_after(rule, "alice") == 1
    time.sleep(1.1)
    assert redis_limiter.retry_after(rule, "alice") == 0


def test_limits_still_apply_when_redis_is_unreachable(clock):
    limiter = RateLimiter(clock=clock)
    limiter.init_app(make_app(UNREACHABLE_REDIS_URL))
    assert [limiter.record_failure(LOGIN, "alice") for _ in range(LOGIN.limit)] == [1, 2, 3]
    assert limiter.retry_after(LOGIN, "alice") > 0
    limiter.reset(LOGIN, "alice")
    assert limiter.retry_after(LOGIN, "alice") == 0


def test_warning_is_logged_once_per_pause_when_redis_is_unreachable(clock, caplog):
    limiter = RateLimiter(clock=clock)
    limiter.init_app(make_app(UNREACHABLE_REDIS_URL))
    with caplog.at_level(logging.WARNING, logger="portal.core.ratelimit"):
        fail(limiter, LOGIN, "alice", 5)
        assert len(caplog.records) == 1
        clock.advance(REDIS_PAUSE_SECONDS)
        limiter.record_failure(LOGIN, "alice")  # Redis is tried again, and fails again
    assert len(caplog.records) == 2


def test_failures_counted_during_an_outage_still_apply_when_redis_is_back(clock, prefix):
    limiter = RateLimiter(clock=clock)
    limiter.init_app(make_app(UNREACHABLE_REDIS_URL, prefix))
    fail(limiter, LOGIN, "alice", LOGIN.limit)
    limiter.init_app(make_app(REDIS_URL, prefix))
    assert limiter.retry_after(LOGIN, "alice") > 0
