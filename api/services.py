"""What the API holds for its lifetime: key store, audit log, Redis, rate limiter, online reader, versions.

Built once in the app's lifespan (api.main), never at import; tests build them against the real
PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg
import redis
from prometheus_client import CollectorRegistry, Counter, Histogram

from api.audit import AuditLog
from api.keys import KeyStore
from api.ratelimit import RateLimiter
from readiness_platform import deployments
from readiness_platform.feature_store import FEED_KEY, ROSTER_KEY, outing_key
from readiness_platform.online import OnlineReader, OnlineRow, RedisOnlineReader, online_reader
from readiness_platform.refresh import Refreshed
from readiness_platform.settings import Settings


class ActiveVersion:
    """The scoring version served: the MLflow `champion` alias, or before any model is registered, the last
    decision of PostgreSQL `model_deployments`.

    Both are re-read in the background every few seconds (`model_alias_ttl_seconds`), never in a request:
    a promotion or a rollback is served within that time, without a restart. A cutover is one alias move
    (or one INSERT), so a reader sees the old version or the new one; if the registry or PostgreSQL is
    briefly away, the version last read keeps being served.
    """

    def __init__(self, settings: Settings) -> None:
        from readiness_platform.model_registry import AliasCache

        self.url = settings.database_url
        self.champion = AliasCache(settings)
        self._decided = deployments.DEFAULT_VERSION
        self.decision = Refreshed(self._read_decision, settings.model_alias_ttl_seconds)

    def _read_decision(self) -> str:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                self._decided = deployments.active(conn).active_version
        except psycopg.Error:
            pass  # keep the version last read; readyz reports PostgreSQL down
        return self._decided

    def get(self) -> str:
        served = self.champion.get()
        return served.scoring_version if served is not None else self.decision.get()


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("readiness_api_requests", "Requests by route and status.",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("readiness_api_request_seconds", "Request latency by route.", ["route"],
                                 buckets=(.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1.0),
                                 registry=self.registry)
        self.ws_clients = Counter("readiness_api_websocket_connections", "WebSocket connections accepted.",
                                  registry=self.registry)
        self.ws_pushes = Counter("readiness_api_websocket_pushes",
                                 "Pitcher updates pushed over WebSockets (an `updates` message holds those of one write).",
                                 registry=self.registry)


@dataclass
class Feed:
    """The feed's clock as the online store last saw it."""

    newest_event_time: datetime | None
    written_at: datetime | None


class Services:
    def __init__(self, settings: Settings, keys: KeyStore, audit: AuditLog, redis_client: redis.Redis,
                 limiter: RateLimiter, reader: OnlineReader, versions: ActiveVersion) -> None:
        self.settings, self.keys, self.audit, self.redis = settings, keys, audit, redis_client
        self.limiter, self.reader, self.versions = limiter, reader, versions
        self.metrics = Metrics()

    @classmethod
    def start(cls, settings: Settings) -> Services:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                      retry_on_timeout=False)
        keys = KeyStore(settings.database_url)
        keys.ensure_schema()
        audit = AuditLog(settings.database_url)
        audit.ensure_schema()
        return cls(settings, keys, audit, client, RateLimiter(client, settings.rate_limit_per_second),
                   online_reader(settings, client), ActiveVersion(settings))

    def close(self) -> None:
        self.audit.close()
        self.keys.close()
        self.redis.close()

    def feed(self) -> Feed:
        return self._feed(self.redis.hgetall(FEED_KEY))

    @staticmethod
    def _feed(raw: dict) -> Feed:
        def at(name: bytes) -> datetime | None:  # noqa: E306
            v = float(raw.get(name, 0) or 0)
            return datetime.fromtimestamp(v, timezone.utc) if v else None
        return Feed(at(b"newest_event_time"), at(b"written_at"))

    def roster(self) -> list[int]:
        return [int(p) for p in self.redis.zrange(ROSTER_KEY, 0, -1)]

    def roster_times(self) -> dict[int, float]:
        """Each pitcher's newest event time (epoch seconds), as the roster keeps it."""
        return {int(p): t for p, t in self.redis.zrange(ROSTER_KEY, 0, -1, withscores=True)}

    def read(self, pitcher_ids: list[int], version: str | None = None) -> dict[int, OnlineRow]:
        return self.reader.read(version or self.versions.get(), pitcher_ids) if pitcher_ids else {}

    def read_one(self, pitcher_id: int, with_outing: bool) -> tuple[OnlineRow | None, Feed, list[bytes]]:
        """A pitcher's row, the feed's clock and (if asked) the outing's points: one round trip with Redis."""
        version = self.versions.get()
        if not isinstance(self.reader, RedisOnlineReader):
            row = self.read([pitcher_id], version).get(pitcher_id)
            raw = self.redis.lrange(outing_key(version, pitcher_id), 0, -1) if with_outing else []
            return row, self.feed(), raw
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.reader.key(pitcher_id), self.reader.fields(version))
            pipe.hgetall(FEED_KEY)
            if with_outing:
                pipe.lrange(outing_key(version, pitcher_id), 0, -1)
            replies = pipe.execute()
        return (RedisOnlineReader.decode(pitcher_id, version, replies[0]), self._feed(replies[1]),
                replies[2] if with_outing else [])

    def outing(self, pitcher_id: int, version: str, game_pk: int | None, raw: list[bytes] | None = None) -> list[dict]:
        if raw is None:
            raw = self.redis.lrange(outing_key(version, pitcher_id), 0, -1)
        points = [json.loads(p) for p in raw]
        by_pitch = {tuple(p["pitch"]): p for p in points if p["game_pk"] == game_pk}  # a final row replaces
        return sorted(by_pitch.values(), key=lambda p: (p["t"], p["pitch"]))

    def launch_recalibration(self, system_id: str, reason: str, key_id: str) -> str:
        """Start the Dagster `recalibration` job in the background; its run id at once."""
        from dagster import DagsterInstance

        from readiness_platform.definitions import build_definitions

        run_id = str(uuid.uuid4())
        job = build_definitions(self.settings).resolve_job_def("recalibration")

        def run() -> None:
            try:
                instance = DagsterInstance.get()
            except Exception:  # noqa: BLE001 - no DAGSTER_HOME: an ephemeral instance, the run still happens
                instance = DagsterInstance.ephemeral()
            job.execute_in_process(
                run_config={"ops": {"record_calibration": {"config": {
                    "tracking_system_id": system_id, "trigger": "manual", "reason": f"{reason} (API key {key_id})"}}}},
                instance=instance, run_id=run_id, raise_on_error=False,
                tags={"reason": reason, "requested_by": key_id, "source": "api"})

        threading.Thread(target=run, name=f"recalibration-{run_id[:8]}", daemon=True).start()
        return run_id
