"""The Feast feature store of the platform: its configuration per environment, apply, and online writes.

The environment's `feature_repo/feature_store.<env>.yaml` is the one description of the store; its
`${...}` placeholders are filled from the platform's settings here (and by `readiness feast-env` for the
Feast CLI), so the registry, the SQLite file and Redis follow READINESS_HOME and REDIS_URL.

Online writes go through Feast (`write_to_online_store`), one view per model version. After a write,
the pitchers written are announced on Redis: a roster (sorted set, newest event time as score) that the
API lists, and a pub/sub message the API's WebSocket pushes from. The announcement carries ids, times and
the write's source (the stream's `<run>/<micro-batch>`) only, never feature values. The stream writes in
the background (OnlinePublisher.submit).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii
from string import Template
from urllib.parse import urlparse

import pandas as pd
import yaml

from readiness_platform.domain.errors import SetupError
from readiness_platform.settings import REPO_ROOT, Settings

REPO_DIR = REPO_ROOT / "feature_repo"
ROSTER_KEY = "readiness:roster"
FEED_KEY = "readiness:feed"
OUTING_POINTS = 150  # per pitcher and version: the dashboard's sparkline of the outing


def updates_channel(db: int) -> str:
    """The pub/sub channel of one Redis database (pub/sub ignores database numbers: name them apart)."""
    return f"readiness:updates:{db}"


def outing_key(version: str, pitcher_id: int) -> str:
    return f"readiness:outing:{version}:{pitcher_id}"


def batch_source(app_id: str, batch_id: int) -> str:
    """The `source` a stream's micro-batch announces its online write with: `<stream run>/<micro-batch>`."""
    return f"{app_id}/{batch_id}"


def parse_batch_source(source: str | None) -> tuple[str, int] | None:
    """(stream run, micro-batch) of a write's `source`; None for a write of another writer."""
    if not source:
        return None
    app_id, _, batch_id = source.rpartition("/")
    return app_id, int(batch_id)


log = logging.getLogger("readiness.online")
_stores: dict[tuple, object] = {}
_lock = threading.Lock()


def redis_connection_string(redis_url: str) -> str:
    """REDIS_URL (redis://[:password@]host:port/db) as Feast's `host:port,db=N[,password=...]`."""
    u = urlparse(redis_url)
    parts = [f"{u.hostname or '127.0.0.1'}:{u.port or 6379}", f"db={(u.path or '/0').strip('/') or 0}"]
    if u.password:
        parts.append(f"password={u.password}")
    return ",".join(parts)


def feast_env(settings: Settings) -> dict[str, str]:
    """The values of the yaml's placeholders for these settings."""
    from readiness_platform.spark import local_jars

    return {
        "FEAST_REGISTRY": str(settings.feast_dir / "registry.db"),
        "FEAST_SQLITE": str(settings.feast_dir / "online.db"),
        "FEAST_REDIS": redis_connection_string(settings.redis_url),
        "FEAST_SPARK_MASTER": settings.spark_master,
        "FEAST_SPARK_JARS": ",".join(local_jars(settings.jars_dir)),
    }


def repo_config(settings: Settings):  # -> feast.RepoConfig
    """The RepoConfig of the settings' environment, from its yaml."""
    from feast.repo_config import RepoConfig

    path = REPO_DIR / f"feature_store.{settings.feast_env}.yaml"
    if not path.exists():
        raise SetupError(f"No Feast configuration for environment {settings.feast_env!r} at {path}.")
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    raw = yaml.safe_load(Template(text).substitute(feast_env(settings)))
    return RepoConfig(repo_path=REPO_DIR, **raw)


def feature_store(settings: Settings):  # -> feast.FeatureStore
    """The settings' FeatureStore, one per process and environment (it caches its registry)."""
    from feast import FeatureStore

    key = (settings.feast_env, str(settings.feast_dir), settings.redis_url, str(settings.tables.root))
    with _lock:
        if key not in _stores:
            settings.feast_dir.mkdir(parents=True, exist_ok=True)
            _stores[key] = FeatureStore(config=repo_config(settings))
        return _stores[key]


def forget_stores() -> None:
    """As a new process would: the next use builds each FeatureStore again (registry, online store)."""
    with _lock:
        _stores.clear()


def apply_repo(settings: Settings) -> None:
    """Register the repository's entity, views and services (idempotent)."""
    from feature_repo import repo_objects

    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    feature_store(settings).apply(repo_objects(settings.tables))


def online_frame(rows: list[dict]) -> pd.DataFrame:
    """Scored rows (pitch_features columns) as the frame Feast writes: features, pitcher_id, event_time."""
    from feature_repo.feature_views import FEATURE_NAMES

    frame = pd.DataFrame([{n: r.get(n) for n in ("pitcher_id", "event_time", *FEATURE_NAMES)} for r in rows])
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    for name in ("alert_reasons", "data_quality_reasons"):
        frame[name] = frame[name].map(lambda v: list(v) if v is not None else [])
    return frame


def write_online(settings: Settings, rows: list[dict], redis_client=None, scored: list[dict] | None = None,
                 source: str | None = None) -> int:
    """Write scored rows (one per pitcher and version, the newest) to the online store; announce them, or
    `scored` (every row scored with them: each pitch then gets its point in the outing, not only the newest),
    with the `source` of the write (the stream's `<app id>/<micro-batch>`; None for other writers).

    The caller decides what is newest (the stream's gold state, the repair asset's comparison): with
    Redis the store writes what it is given. With Redis (production) and a client, the rows are written in
    Feast's layout directly (online.RedisOnlineWriter: the same bytes, without Feast's per-value conversion).
    """
    from feature_repo.feature_views import view_name

    if not rows and not scored:
        return 0
    versions = sorted({r["model_version"] for r in rows})
    if settings.feast_env == "production" and redis_client is not None:  # Feast's Redis layout, directly
        from readiness_platform.online import RedisOnlineWriter

        writer = RedisOnlineWriter(redis_client)
        for version in versions:
            writer.write(version, [r for r in rows if r["model_version"] == version])
    else:
        store = feature_store(settings)
        for version in versions:
            store.write_to_online_store(view_name(version), online_frame([r for r in rows if r["model_version"] == version]))
    if redis_client is not None:
        announce(redis_client, scored or rows, source)
    return len(rows)


def announce(redis_client, rows: list[dict], source: str | None = None) -> None:
    """After a write: the roster, the feed's clock and a pub/sub message (ids, the time and the write's
    `source` only), then the outing's points.

    The message goes out before the outing's points are pushed: the live feed reads the pitchers' values,
    not their outings, and at 2,000 events/s building and sending a micro-batch's points (~5,800) took
    0.02-0.2 s of the dashboard's wait. An outing read in between misses its newest point for that long.
    Each outing list gets one RPUSH of its new points (at most the OUTING_POINTS it keeps) and one LTRIM:
    a command per point cost ~2.5 s of a 43,000-row micro-batch, measured, most of it in redis-py.
    """
    newest: dict[int, float] = {}
    points: dict[tuple[str, int], list[tuple[float, dict]]] = {}
    written_at = datetime.now(timezone.utc).timestamp()
    for r in rows:
        pitcher, t = int(r["pitcher_id"]), _epoch(r["event_time"])
        if t > newest.get(pitcher, -math.inf):
            newest[pitcher] = t
        points.setdefault((r["model_version"], pitcher), []).append((t, r))
    with redis_client.pipeline(transaction=False) as pipe:
        pipe.zadd(ROSTER_KEY, {str(p): t for p, t in newest.items()}, gt=True)
        pipe.hset(FEED_KEY, mapping={"written_at": written_at})
        # the feed's clock only moves forward (a late pitch written now does not turn it back)
        pipe.eval("local c = tonumber(redis.call('HGET', KEYS[1], 'newest_event_time') or '0') "
                  "if tonumber(ARGV[1]) > c then redis.call('HSET', KEYS[1], 'newest_event_time', ARGV[1]) end",
                  1, FEED_KEY, max(newest.values()))
        db = int(redis_client.connection_pool.connection_kwargs.get("db", 0))
        pipe.publish(updates_channel(db), json.dumps({"pitchers": sorted(newest), "written_at": written_at,
                                                      "source": source}))
        pipe.execute()
    with redis_client.pipeline(transaction=False) as pipe:
        for (version, pitcher), outing in points.items():
            key = outing_key(version, pitcher)
            pipe.rpush(key, *(outing_point(t, r) for t, r in outing[-OUTING_POINTS:]))
            pipe.ltrim(key, -OUTING_POINTS, -1)
        pipe.execute()


def outing_point(t: float, r: dict) -> str:
    """One point of an outing (`t`: the pitch's epoch seconds) as JSON, the text json.dumps writes for
    {"t", "game_pk", "pitch", "readiness", "velo_delta_mph", "final", "alert", "calibration",
    "late_fraction"}. Formatted directly: json.dumps of a dict was half of announce's time (measured: 5.3
    against 2.3 us a point, and a micro-batch announces every row it scores)."""
    return (f'{{"t": {_json(t)}, "game_pk": {_json(r["game_pk"])}, '
            f'"pitch": [{_json(r["at_bat_number"])}, {_json(r["pitch_number"])}], '
            f'"readiness": {_json(r["readiness"])}, "velo_delta_mph": {_json(r["velo_delta_mph"])}, '
            f'"final": {"true" if r["is_final"] else "false"}, "alert": {_json(r["alert_level"])}, '
            f'"calibration": {_json(r["calibration_confidence"])}, "late_fraction": {_json(r["late_fraction"])}}}')


def _json(v: object) -> str:
    """json.dumps(v), with plain Python floats, ints and str written without going through the encoder."""
    if v is None:
        return "null"
    kind = type(v)
    if kind is float and v - v == 0.0:  # finite (json.dumps writes NaN and Infinity its own way)
        return float.__repr__(v)
    if kind is int:
        return int.__repr__(v)
    if kind is str:
        return encode_basestring_ascii(v)
    return json.dumps(v)


_EPOCH = datetime(1970, 1, 1)


def _epoch(t: datetime) -> float:
    """Epoch seconds of a naive-UTC or aware time (exactly what datetime.timestamp() gives in UTC)."""
    if type(t) is datetime and t.tzinfo is None:
        return (t - _EPOCH).total_seconds()
    return (t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)).timestamp()


class OnlinePublisher:
    """The stream's online writer: Feast, then the announcement on Redis.

    `submit` writes in the background, one write at a time and in order: a micro-batch hands its rows over
    and commits its Delta tables while they are written, and the next micro-batch's Spark job runs while
    the write finishes (it was a fifth of a micro-batch's time, on its critical path, measured at 2,000
    events/s). A micro-batch's submit first waits for the previous write, so at most one is in flight and
    rows reach the store in the order of the micro-batches. The stream's query waits for the last write too
    (spark_jobs.stream.main.ReadinessQuery).

    A failed online write never stops the stream (the rows are in Delta; the `online_features` asset
    repairs the store): it is logged and counted in `failures`.
    """

    def __init__(self, settings: Settings, redis_client) -> None:
        self.settings = settings
        self.redis = redis_client
        self.published = 0
        self.failures = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="online-publish")
        self._pending: Future | None = None

    @classmethod
    def start(cls, settings: Settings) -> OnlinePublisher:
        """Register the repository (idempotent) and connect to Redis."""
        import redis

        apply_repo(settings)
        return cls(settings, redis.Redis.from_url(settings.redis_url, socket_timeout=2))

    def publish(self, rows: list[dict], scored: list[dict] | None = None, source: str | None = None) -> int:
        """Write now, in the caller's thread."""
        try:
            n = write_online(self.settings, rows, self.redis, scored, source)
        except Exception as e:  # noqa: BLE001 - any store failure: logged, counted, repaired later
            self.failures += 1
            log.warning("online store write of %d rows failed (%s: %s); the online_features asset will "
                        "repair it from Delta", len(rows), type(e).__name__, e)
            return 0
        self.published += n
        return n

    def submit(self, rows: list[dict], scored: list[dict] | None = None, source: str | None = None) -> None:
        """Write in the background, after the previous write (the rows must not change afterwards)."""
        self.wait()
        self._pending = self._writer.submit(self.publish, rows, scored, source)

    def wait(self) -> None:
        """Until the last write submitted is done (publish never raises: a failure is counted). The writer
        has one thread: the writes before it are done too."""
        pending = self._pending
        if pending is not None:
            pending.result()


def feast_env_exports(settings: Settings) -> str:
    """Shell exports for the Feast CLI (`eval "$(readiness feast-env)"`)."""
    return "\n".join(f"export {k}={v!s}" for k, v in feast_env(settings).items())



def delete_local_online_rows(settings: Settings, column: str, operator: str, value: object, dry_run: bool) -> int:
    """Rows of the local (SQLite) online store where `column operator value`, in every table that has the
    column: counted, and unless `dry_run` deleted in one transaction and the file vacuumed (deleted rows stay
    in free pages until it is rewritten). Erasure and retention both go through here."""
    import sqlite3
    from contextlib import closing

    import feast.infra.online_stores.sqlite  # noqa: F401 - registers the datetime adapters Feast wrote with

    if operator not in ("=", "<"):
        raise ValueError(f"operator must be = or <, not {operator!r}")
    db = settings.feast_dir / "online.db"
    if not db.exists():
        return 0
    found = 0
    with closing(sqlite3.connect(db)) as conn:
        with conn:  # one transaction
            for (t,) in conn.execute("select name from sqlite_master where type = 'table'").fetchall():
                if column not in {r[1] for r in conn.execute(f'pragma table_info("{t}")')}:
                    continue
                where = f'from "{t}" where {column} {operator} ?'
                found += conn.execute(f"select count(*) {where}", (value,)).fetchone()[0]
                if not dry_run:
                    conn.execute(f"delete {where}", (value,))
        if found and not dry_run:
            conn.execute("vacuum")
    return found
