"""Rate limit counters, in process and shared through a real Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from app.ratelimit import Limit, MemoryCounter, RateLimiter, RedisCounter, TooManyAttempts

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_memory_counter_blocks_past_the_limit() -> None:
    limiter = RateLimiter(MemoryCounter())
    limit = Limit("t", 3, 60)
    for _ in range(3):
        limiter.check(limit, "1.2.3.4")
    with pytest.raises(TooManyAttempts) as caught:
        limiter.check(limit, "1.2.3.4")
    assert 0 < caught.value.retry_after <= 60
    limiter.check(limit, "5.6.7.8")  # another subject has its own window


def test_redis_counter_is_shared_between_limiters() -> None:
    name = f"test-{uuid.uuid4().hex}"
    first, second = RateLimiter(RedisCounter(REDIS_URL)), RateLimiter(RedisCounter(REDIS_URL))
    limit = Limit(name, 2, 30)
    first.check(limit, "claire@test.fr")
    second.check(limit, "CLAIRE@test.fr")  # same subject, case-insensitive, other process
    with pytest.raises(TooManyAttempts) as caught:
        first.check(limit, "claire@test.fr")
    assert 0 < caught.value.retry_after <= 30
    client = redis.Redis.from_url(REDIS_URL)
    key = f"arobase:rl:{name}:claire@test.fr"
    assert 0 < int(client.ttl(key)) <= 30  # the window expires by itself
    client.delete(key)
    client.close()
    first.close()
    second.close()


def test_an_unreachable_redis_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(RedisCounter("redis://127.0.0.1:1/0"))
    for _ in range(5):
        limiter.check(Limit("t", 1, 60), "x")
    assert "Redis unreachable" in caplog.text
    limiter.close()
