"""The per-key rate limit against the real Redis."""

from __future__ import annotations

import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from api.ratelimit import RateDecision, RateLimiter, RateLimiterUnavailable

pytestmark = pytest.mark.services


def test_allows_the_burst_then_denies_with_retry_after(redis_client: redis.Redis, redis_prefix: str):
    limiter = RateLimiter(redis_client, per_second=5, prefix=redis_prefix)

    decisions = [limiter.check("rk_1a2b3c4d") for _ in range(6)]

    assert decisions[:5] == [RateDecision(True, 0)] * 5
    assert not decisions[5].allowed and decisions[5].retry_after_s >= 1


def test_another_key_is_counted_on_its_own(redis_client: redis.Redis, redis_prefix: str):
    limiter = RateLimiter(redis_client, per_second=2, burst=2, prefix=redis_prefix)
    for _ in range(3):
        limiter.check("rk_1a2b3c4d")

    assert limiter.check("rk_1a2b3c4d").allowed is False
    assert limiter.check("rk_99999999").allowed is True


def test_a_client_that_waits_gets_through_at_the_sustained_rate(redis_client: redis.Redis, redis_prefix: str):
    limiter = RateLimiter(redis_client, per_second=10, burst=2, prefix=redis_prefix)
    assert [limiter.check("rk_1a2b3c4d").allowed for _ in range(3)] == [True, True, False]

    time.sleep(0.11)  # one interval at 10/s

    assert [limiter.check("rk_1a2b3c4d").allowed for _ in range(2)] == [True, False]


def test_retry_after_covers_the_wait_at_a_slow_rate(redis_client: redis.Redis, redis_prefix: str):
    limiter = RateLimiter(redis_client, per_second=1, burst=3, prefix=redis_prefix)
    for _ in range(3):
        limiter.check("rk_1a2b3c4d")

    assert limiter.check("rk_1a2b3c4d") == RateDecision(False, 1)


def test_buckets_expire_in_redis(redis_client: redis.Redis, redis_prefix: str):
    limiter = RateLimiter(redis_client, per_second=5, burst=10, prefix=redis_prefix)
    limiter.check("rk_1a2b3c4d")

    assert 0 < redis_client.pttl(redis_prefix + "rk_1a2b3c4d") <= 200  # the time the bucket takes to refill


def test_an_unreachable_redis_is_unavailable_not_allowed():
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    limiter = RateLimiter(client, per_second=5)

    with pytest.raises(RateLimiterUnavailable, match="services.sh start"):
        limiter.check("rk_1a2b3c4d")


@pytest.mark.parametrize("per_second, burst", [(0, None), (5, 0)])
def test_a_limit_that_allows_nothing_is_refused(redis_client: redis.Redis, per_second: int, burst: int | None):
    with pytest.raises(ValueError):
        RateLimiter(redis_client, per_second=per_second, burst=burst)
