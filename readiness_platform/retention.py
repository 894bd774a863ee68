"""The retention schedule and its enforcement: `readiness retention apply` and the Dagster `retention` job.

How long each kind of data is kept is in the settings (`READINESS_RETENTION_*`, docs/data-lifecycle.md);
`schedule(settings)` states it, `apply_retention` enforces the time-based part:

- Delta tables: rows older than their window are deleted (by game date, event time or the time the row
  was written), then VACUUM removes the files only older versions reference once they are older than
  `delta.deletedFileRetentionDuration`; every table gets `delta.logRetentionDuration` and
  `delta.deletedFileRetentionDuration` from the settings (set once: a metadata commit);
- `<landing>.archive` and `<home>/reports`: files older than their window are deleted;
- the online store: a pitcher whose newest online value is older than the window loses it (Feast's hash
  in Redis or its SQLite rows), its roster entry and its outing list;
- PostgreSQL: baselines of seasons out of the window; API audit rows older than theirs, through the one
  documented exception to the log's append-only trigger (`purge_audit`);
- not here: the stream's checkpoint (one per season, retired with its season) and Kafka topics (their
  `retention.ms`).

Windows count back from `as_of` (default now, wall clock). Run it between games: gold is rewritten by
the running stream from its memory, and a DELETE racing a micro-batch's overwrite fails one of them.
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from readiness_platform.delta_maintenance import (MARKER_CONF, count_where, delete_where, newest_marker, open_table,
                                                  session_conf, set_retention_properties)
from readiness_platform.erasure import PlaceResult, connect_pg, format_places
from readiness_platform.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DDL = """
create table if not exists retention_runs (
    id bigserial primary key,
    as_of timestamptz not null,
    ran_at timestamptz not null default now(),
    requested_by text not null,
    places jsonb not null default '{}'::jsonb
);
comment on table retention_runs is 'One row per `readiness retention apply`: rows and files removed per place.';
"""


@dataclass(frozen=True)
class Window:
    """One line of the schedule."""

    place: str
    kept: str
    enforced_by: str


def schedule(settings: Settings) -> list[Window]:
    """The retention schedule of these settings, as docs/data-lifecycle.md and `readiness retention show` state it."""
    s = settings
    return [
        Window("landing folder", "until the stream lands it (seconds)", "the stream moves it to the archive"),
        Window("<landing>.archive (raw feed)", f"{s.retention_landing_archive_days} days", "retention apply"),
        Window("Kafka topics (raw feed)", "the topics' retention.ms (7 days)", "Kafka"),
        Window("quarantine (raw payloads)", f"{s.retention_quarantine_days} days", "retention apply"),
        Window("bronze pitches, readings, calibrations", f"{s.retention_bronze_days} days", "retention apply"),
        Window("silver pitch_features", f"{s.retention_silver_days} days", "retention apply"),
        Window("gold pitcher_readiness", f"{s.retention_gold_days} days after the pitcher's latest pitch",
               "retention apply (the running stream rewrites gold from memory: final at its restart)"),
        Window("seasonal_baselines (Delta, PostgreSQL)", f"{s.retention_baseline_seasons} seasons", "retention apply"),
        Window("stream_metrics, feature_qa", f"{s.retention_ops_days} days", "retention apply"),
        Window("Delta history (time travel)", f"{s.delta_log_retention} (log), "
               f"{s.delta_deleted_file_retention} (removed files)", "table properties + VACUUM in retention apply"),
        Window("online store (Feast, roster, outings)", f"{s.retention_online_days} days (Feast view ttl: 30 days)",
               "retention apply"),
        Window("stream checkpoint (state store)", "one season: per-pitcher pitches 4 h of feed time",
               "the stream (state expiry); the checkpoint is retired with its season"),
        Window("reports", f"{s.retention_reports_days} days", "retention apply"),
        Window("API audit log", f"{s.retention_audit_days} days", "retention apply (documented exception)"),
        Window("erasure and retention records", "kept (counts only: proof of erasure)", "-"),
    ]


@dataclass
class RetentionReport:
    """What one run removed per place."""

    as_of: datetime
    dry_run: bool
    requested_by: str
    places: list[PlaceResult] = field(default_factory=list)
    record_id: int | None = None

    def lines(self) -> list[str]:
        return format_places(self.places, self.dry_run)


def _sql_ts(t: datetime) -> str:
    return f"TIMESTAMP '{t.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}'"


def _sql_date(d: date) -> str:
    return f"DATE '{d:%Y-%m-%d}'"


def delta_rules(settings: Settings, as_of: datetime) -> dict[str, str]:
    """Per Delta table: the predicate of the rows out of their window at `as_of` (Spark and DataFusion SQL)."""
    s = settings

    def ago(days: int) -> datetime:
        return as_of - timedelta(days=days)

    first_season = as_of.year - s.retention_baseline_seasons + 1
    return {
        "pitches": f"game_date < {_sql_date(ago(s.retention_bronze_days).date())}",
        "environment_readings": f"event_time < {_sql_ts(ago(s.retention_bronze_days))}",
        "calibration_events": f"event_time < {_sql_ts(ago(s.retention_bronze_days))}",
        "quarantine": f"quarantined_at < {_sql_ts(ago(s.retention_quarantine_days))}",
        "pitch_features": f"game_date < {_sql_date(ago(s.retention_silver_days).date())}",
        "pitcher_readiness": f"event_time < {_sql_ts(ago(s.retention_gold_days))}",
        "seasonal_baselines": f"season < {first_season}",
        "stream_metrics": f"batch_time < {_sql_ts(ago(s.retention_ops_days))}",
        "feature_qa": f"checked_at < {_sql_ts(ago(s.retention_ops_days))}",
    }


def _delta_tables(run: _Retention) -> list[PlaceResult]:
    out = []
    properties = {"delta.logRetentionDuration": run.settings.delta_log_retention,
                  "delta.deletedFileRetentionDuration": run.settings.delta_deleted_file_retention}
    for name, condition in delta_rules(run.settings, run.as_of).items():
        path = run.settings.tables.path(name)
        if open_table(path) is None:
            continue
        found = count_where(path, condition)
        deleted, note = 0, ""
        if not run.dry_run:
            marker = newest_marker(path)
            if set_retention_properties(run.spark, path, properties, marker):
                note = "retention properties set"
            if found:
                deleted = delete_where(run.spark, path, condition, marker)
            # files removed by any commit (this DELETE, the stream's gold rewrites, MERGEs) older than
            # delta.deletedFileRetentionDuration; the listing runs with as many tasks as the session has
            parallelism = run.spark.conf.get("spark.sql.shuffle.partitions")
            with session_conf(run.spark, {"spark.sql.sources.parallelPartitionDiscovery.parallelism": parallelism,
                                          MARKER_CONF: marker}):
                run.spark.sql(f"VACUUM delta.`{path}`")
        out.append(PlaceResult(f"delta {name}", "rows", found, deleted, note=note or condition))
    return out


def _old_files(folder: Path, cutoff: datetime) -> list[Path]:
    if not folder.exists():
        return []
    limit = cutoff.timestamp()
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime < limit)


def _files(run: _Retention) -> list[PlaceResult]:
    s = run.settings
    archive = Path(f"{str(s.landing).rstrip('/')}.archive")
    out = []
    for place, folder, days in (("landing archive", archive, s.retention_landing_archive_days),
                                ("reports", s.home / "reports", s.retention_reports_days)):
        old = _old_files(folder, run.as_of - timedelta(days=days))
        if not run.dry_run:
            for p in old:
                p.unlink()
        out.append(PlaceResult(place, "files", len(old), 0 if run.dry_run else len(old),
                               note=f"older than {days} days"))
    return out


def _online(run: _Retention) -> list[PlaceResult]:
    """By the event time of each pitcher's newest online value (what Feast's view ttl compares too)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from readiness_platform.feature_store import ROSTER_KEY

    cutoff = run.as_of - timedelta(days=run.settings.retention_online_days)
    client = run.redis_client
    feast_rows = 0
    if run.settings.feast_env == "production":
        for key in client.scan_iter(match=b"*readiness", count=1000):  # Feast: <entity key><project>
            stamps = [v for f, v in client.hgetall(key).items() if f.startswith(b"_ts:")]
            newest = max((_ts(v, Timestamp) for v in stamps), default=None)
            if newest is not None and newest < cutoff:
                feast_rows += 1
                if not run.dry_run:
                    client.delete(key)
    else:
        feast_rows = _sqlite_expire(run, cutoff)
    stale = [m.decode() for m in client.zrangebyscore(ROSTER_KEY, "-inf", f"({cutoff.timestamp()}")]
    outings = [k for k in client.scan_iter(match="readiness:outing:*", count=1000)
               if (last := client.lindex(k, -1)) is None or json.loads(last)["t"] < cutoff.timestamp()]
    if not run.dry_run:
        if stale:
            client.zrem(ROSTER_KEY, *stale)
        if outings:
            client.delete(*outings)
    done = 0 if run.dry_run else 1
    unit = "pitchers" if run.settings.feast_env == "production" else "rows"
    return [PlaceResult("online store (feast)", unit, feast_rows, feast_rows * done),
            PlaceResult("redis roster", "members", len(stale), len(stale) * done),
            PlaceResult("redis outing lists", "lists", len(outings), len(outings) * done)]


def _ts(raw: bytes, cls: Any) -> datetime:
    ts = cls()
    ts.ParseFromString(raw)
    return ts.ToDatetime(tzinfo=timezone.utc)


def _sqlite_expire(run: _Retention, cutoff: datetime) -> int:
    from readiness_platform.feature_store import delete_local_online_rows

    naive = cutoff.astimezone(timezone.utc).replace(tzinfo=None)
    return delete_local_online_rows(run.settings, "event_ts", "<", naive, run.dry_run)


def purge_audit(conn: psycopg.Connection, before: datetime) -> int:
    """Delete API audit rows older than `before`: the documented exception to the append-only trigger.

    In one transaction: the trigger is disabled (ALTER TABLE takes a SHARE ROW EXCLUSIVE lock, so no
    other session writes or sees the table without it), old rows are deleted, the trigger is enabled
    again. Other sessions never see it disabled; a failure rolls all of it back."""
    with conn.transaction():
        conn.execute("alter table api_audit disable trigger api_audit_append_only")
        deleted = conn.execute("delete from api_audit where at < %s", (before,)).rowcount
        conn.execute("alter table api_audit enable trigger api_audit_append_only")
    return deleted


def _postgres(run: _Retention, conn: psycopg.Connection) -> list[PlaceResult]:
    def exists(table: str) -> bool:
        return conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is not None

    out = []
    first_season = run.as_of.year - run.settings.retention_baseline_seasons + 1
    if exists("baselines"):
        found = conn.execute("select count(*) from baselines where season < %s", (first_season,)).fetchone()[0]
        if found and not run.dry_run:
            conn.execute("delete from baselines where season < %s", (first_season,))
        out.append(PlaceResult("postgres baselines", "rows", found, 0 if run.dry_run else found,
                               note=f"seasons before {first_season}"))
    if exists("api_audit"):
        before = run.as_of - timedelta(days=run.settings.retention_audit_days)
        found = conn.execute("select count(*) from api_audit where at < %s", (before,)).fetchone()[0]
        deleted = purge_audit(conn, before) if found and not run.dry_run else 0
        out.append(PlaceResult("postgres api_audit", "rows", found, deleted,
                               note=f"older than {run.settings.retention_audit_days} days"))
    return out


@dataclass
class _Retention:
    settings: Settings
    as_of: datetime
    dry_run: bool
    spark_factory: Callable[[], SparkSession]
    redis_client: Any
    _spark: SparkSession | None = None

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = self.spark_factory()
        return self._spark


def apply_retention(settings: Settings, *, as_of: datetime | None = None, dry_run: bool = False,
                    spark: SparkSession | None = None, redis_client=None,  # noqa: ANN001
                    requested_by: str | None = None, log: Callable[[str], None] = lambda _: None) -> RetentionReport:
    """Delete what is older than its window at `as_of` (default now) everywhere the schedule covers."""
    import redis

    def spark_factory() -> SparkSession:
        from readiness_platform.spark import build_spark

        return spark or build_spark(settings, "readiness-retention")

    as_of = (as_of or datetime.now(timezone.utc)).astimezone(timezone.utc)
    report = RetentionReport(as_of, dry_run, requested_by or getpass.getuser())
    run = _Retention(settings, as_of, dry_run, spark_factory,
                     redis_client or redis.Redis.from_url(settings.redis_url, socket_timeout=10))
    with connect_pg(settings) as conn:
        for step in (lambda: _files(run), lambda: _online(run), lambda: _postgres(run, conn),
                     lambda: _delta_tables(run)):
            started = time.monotonic()
            for place in step():
                report.places.append(place)
                log("  " + report.lines()[-1])
            log(f"    ({time.monotonic() - started:.1f} s)")
        if not dry_run:
            conn.execute(DDL)
            report.record_id = conn.execute(
                "insert into retention_runs (as_of, requested_by, places) values (%s, %s, %s) returning id",
                (as_of, report.requested_by, json.dumps({p.place: p.as_json() for p in report.places}))).fetchone()[0]
    return report
