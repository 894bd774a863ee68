"""Per-key rate limit in Redis: `per_second` requests sustained, up to `burst` at once.

The algorithm is GCRA (a token bucket kept as one timestamp per key, as redis-cell and many gateways do): a
key's "theoretical arrival time" moves forward by 1/per_second for every allowed request, and a request is
refused while that time is more than `burst` intervals ahead of now. Unlike a fixed one-second window it has
no edge where twice the rate gets through, and it needs one key and one round trip (a Lua script that
runs atomically in Redis, timed by Redis's clock so every API process agrees on "now").

If Redis does not answer, `check` raises `RateLimiterUnavailable` rather than allowing the request: the
route layer decides (503, with the `unavailable` audit outcome).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis

from readiness_platform.domain.errors import ReadinessError

# KEYS[1]: the key's bucket; ARGV[1]: microseconds per request at the sustained rate; ARGV[2]: burst.
# Returns {allowed (0/1), microseconds until a request would be allowed}.
# Times are integer microseconds (< 2^53, exact in Lua's doubles); '%.0f' writes them without exponent.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - burst * interval
if now < allow_at then
    return {0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, 0}
"""


class RateLimiterUnavailable(ReadinessError):
    """Redis did not answer, so no request can be counted."""

    outcome = "unavailable"


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may go ahead; if not, the whole seconds to wait (the `Retry-After` header)."""

    allowed: bool
    retry_after_s: int


class RateLimiter:
    """`check(key_id)` once per request, after the key is authenticated."""

    def __init__(self, redis_client: redis.Redis, per_second: int, burst: int | None = None, *,
                 prefix: str = "readiness:ratelimit:") -> None:
        if per_second < 1:
            raise ValueError(f"per_second must be at least 1, got {per_second}")
        self.burst = per_second if burst is None else burst
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.per_second = per_second
        self._interval_us = math.ceil(1_000_000 / per_second)
        self._prefix = prefix
        # EVALSHA with the script's digest; redis-py sends the script itself only if Redis lost it (restart)
        self._script = redis_client.register_script(_GCRA)

    def check(self, key_id: str) -> RateDecision:
        """Count one request of `key_id`; denied requests are not counted, so a client that waits gets through."""
        try:
            allowed, wait_us = self._script(keys=[self._prefix + key_id], args=[self._interval_us, self.burst])
        except redis.RedisError as e:
            raise RateLimiterUnavailable(f"the rate limiter's Redis is not reachable: {e}. Start it with "
                                         "`bash scripts/services.sh start`, or check REDIS_URL.") from e
        if allowed:
            return RateDecision(True, 0)
        return RateDecision(False, max(1, math.ceil(int(wait_us) / 1_000_000)))
