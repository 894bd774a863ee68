"""Named, idempotent writers of the readiness stream, called once per micro-batch by foreachBatch.

The stream hands each micro-batch over as up to three branches (spark_jobs.stream.main.branches):
`all` (every message, parsed and validated), `unique` (the first arrival of each valid event) and
`features` (the pitchers' state: provisional and final feature rows). `write_stream_batch` commits
  - `quarantine`: every invalid message of `all`, with its reason;
  - bronze `pitches`, `environment_readings`, `calibration_events`: the `unique` rows, those at or behind
    the watermark for late rows flagged `is_late` - landed and counted, never dropped;
  - silver `pitch_features`: the final feature rows, scored for every model version;
  - gold `pitcher_readiness`: each pitcher's latest row per version, provisional ones included, so a
    pitch updates its pitcher's readiness in the micro-batch it arrives in;
  - one `stream_metrics` row.
Appends are exactly once (lakehouse.append_once); gold is rewritten whole (idempotent, it is one row per
pitcher and version). Every figure is computed from the batch itself, so a batch replayed after a crash
writes nothing twice and records the same figures. The commits of one batch run concurrently: on two
cores a Delta commit is mostly waiting, not computing.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from readiness_platform.checkpoint import BatchInfo, batch_info, query_id
from readiness_platform.feature_store import OnlinePublisher
from readiness_platform.lakehouse import Commit, append_once, table_specs
from readiness_platform.model_registry import ServedBy
from readiness_platform.settings import Tables
from readiness_platform.transforms.contract import EVENT_KEYS
from readiness_platform.transforms.features import FEATURES_SCHEMA, Baselines, build_timelines, records, score_rows

FEATURE_NAMES = FEATURES_SCHEMA.fieldNames()

log = logging.getLogger("readiness.stream")
KEYS = EVENT_KEYS
TABLE_OF = {"pitch": "pitches", "environment": "environment_readings", "calibration": "calibration_events"}


def is_late(watermark: datetime) -> Column:
    """Spark's own rule: a row is late when its event time is at or behind the watermark for late events
    (checkpoint.BatchInfo.watermark), the one Spark's stateful operators drop it by."""
    return F.col("event_time") <= F.lit(watermark)


def _bronze(rows: DataFrame, kind: str, info: BatchInfo, app_id: str) -> DataFrame:
    spec = table_specs()[TABLE_OF[kind]]
    out = rows.select(f"{kind}.*", "source").withColumns({
        "is_late": is_late(info.watermark),
        "watermark": F.lit(info.watermark),
        "ingest_app_id": F.lit(app_id),
        "ingest_batch_id": F.lit(info.batch_id).cast("long"),
    })
    return out.select(*[f.name for f in spec.schema.fields])


def write_kind(df: DataFrame, kind: str, tables: Tables, info: BatchInfo, app_id: str) -> Commit:
    """Commit one kind's new rows to bronze: the `unique` branch holds each event's first arrival only."""
    rows = _bronze(df.where((F.col("branch") == "unique") & (F.col("kind") == kind)), kind, info, app_id)
    spec = table_specs()[TABLE_OF[kind]]
    return append_once(rows, tables.path(TABLE_OF[kind]), app_id, info.batch_id, spec.partition_by)


def write_quarantine(df: DataFrame, tables: Tables, info: BatchInfo, app_id: str) -> Commit:
    bad = df.where((F.col("branch") == "all") & ~F.col("valid")).select(
        F.col("value").alias("payload"),
        "reason",
        "kind",
        "event_time",
        F.lit(info.trigger_time).alias("quarantined_at"),
        "source",
        F.lit(app_id).alias("ingest_app_id"),
        F.lit(info.batch_id).cast("long").alias("ingest_batch_id"),
    )
    return append_once(bad, tables.quarantine, app_id, info.batch_id)


# --- what the writer keeps between batches: caches of Delta data, rebuilt from Delta after a restart ----

class ContextCache:
    """Each tracking system's on-time calibrations and readings: what scoring needs to know of the air
    and the cameras at a pitch's time. Seeded from bronze once per process, then fed by each batch."""

    def __init__(self) -> None:
        self.calibrations: dict[str, dict] = {}
        self.readings: dict[tuple, dict] = {}
        self.seeded: set[str] = set()

    def seed(self, spark: SparkSession, tables: Tables) -> None:
        if tables.root in self.seeded:
            return
        for r in spark.read.format("delta").load(tables.calibration_events).where("not is_late").collect():
            self.calibrations[r["calibration_id"]] = r.asDict()
        for r in spark.read.format("delta").load(tables.environment_readings).where("not is_late").collect():
            self.readings[(r["tracking_system_id"], r["event_time"])] = r.asDict()
        self.seeded.add(tables.root)

    def add(self, batch: list[dict], watermark: datetime) -> None:
        """The batch's on-time calibrations and readings (late ones are left out, as the recompute does)."""
        cutoff = watermark.replace(tzinfo=None)  # collected timestamps are naive UTC
        for r in batch:
            if r["branch"] != "unique" or r["event_time"] <= cutoff:
                continue
            if r["kind"] == "calibration":
                self.calibrations[r["calibration"]["calibration_id"]] = r["calibration"]
            elif r["kind"] == "environment":
                env = r["environment"]
                self.readings[(env["tracking_system_id"], env["event_time"])] = env

    def timelines(self) -> dict:
        return build_timelines(list(self.calibrations.values()), list(self.readings.values()))


class GoldCache:
    """The gold table's rows, by (pitcher, model version): seeded from Delta once per process."""

    def __init__(self) -> None:
        self.rows: dict[tuple, dict] = {}
        self.seeded: set[str] = set()

    def seed(self, spark: SparkSession, tables: Tables) -> None:
        if tables.root in self.seeded:
            return
        for r in spark.read.format("delta").load(tables.pitcher_readiness).collect():
            self.rows[(r["pitcher_id"], r["model_version"])] = r.asDict(recursive=True)
        self.seeded.add(tables.root)

    @staticmethod
    def _order(r: dict) -> tuple:
        return (r["game_date"], r["game_pk"], r["at_bat_number"], r["pitch_number"], bool(r["is_final"]))

    def update(self, scored: list[dict], now: datetime) -> list[dict]:
        """Keep each pitcher's latest pitch (a final row replaces its provisional one); the rows changed."""
        changed = {}
        for r in scored:
            key = (r["pitcher_id"], r["model_version"])
            held = self.rows.get(key)
            if held is None or self._order(r) > self._order(held):
                self.rows[key] = changed[key] = {**r, "updated_at": now}
        return list(changed.values())


_caches_lock = threading.Lock()
_context = ContextCache()
_gold = GoldCache()


def forget_caches() -> None:
    """As a restart would: the next batch rebuilds the caches from Delta."""
    global _context, _gold
    with _caches_lock:
        _context, _gold = ContextCache(), GoldCache()


@dataclass(frozen=True)
class FeaturesWritten:
    emitted: int
    final: int
    gold_commit: float | None
    ingest_times: list[datetime]  # of the pitches answered (provisionally) in this batch


def write_features(spark: SparkSession, batch: list[dict], tables: Tables, info: BatchInfo, app_id: str,
                   baselines: Baselines, online: OnlinePublisher | None = None,
                   served: dict[str, str] | None = None) -> FeaturesWritten:
    """Score the pitchers' feature rows, append the final ones to silver, refresh gold and the online store.

    The pitchers whose latest row changed are pushed to the online store first, while the Delta commits
    run: the dashboard sees a pitch as soon as it is scored (a replayed batch pushes the same rows again).

    The rows of one micro-batch are few (two per pitch at most): they are scored on the driver with the
    same function the batch recompute runs on the executors (transforms.features.score_rows). Each row is
    stamped with the registered model that produced it (`served`: scoring version -> <name>/<version>).
    """
    with _caches_lock:
        _context.seed(spark, tables)
        _context.add(batch, info.watermark)
        timelines = _context.timelines()
        _gold.seed(spark, tables)
    feats = [{n: r[n] for n in FEATURE_NAMES} for r in batch if r["branch"] == "features"]
    if not feats:
        return FeaturesWritten(0, 0, None, [])
    started = time.time()
    served = served or {}
    rows = [{**r, "registered_model": served.get(r["model_version"])} for r in score_rows(feats, timelines, baselines)]
    log.debug("batch %d scored %d feature rows in %.2fs", info.batch_id, len(feats), time.time() - started)
    silver = table_specs()["pitch_features"]
    lineage = {"ingest_app_id": app_id, "ingest_batch_id": info.batch_id}
    final = [tuple({**r, **lineage}[n] for n in silver.schema.fieldNames()) for r in rows if r["is_final"]]
    with ThreadPoolExecutor(max_workers=1) as pool:
        silver_done = (pool.submit(append_once, spark.createDataFrame(final, schema=silver.schema),
                                   tables.pitch_features, app_id, info.batch_id, silver.partition_by)
                       if final else None)
        gold_at = None
        with _caches_lock:
            changed = _gold.update(rows, datetime.now(timezone.utc).replace(tzinfo=None))
            gold_rows = list(_gold.rows.values())
        if online is not None:
            online.publish(changed, scored=rows)  # the newest row per pitcher; every pitch in the outing
        if changed:
            gold = table_specs()["pitcher_readiness"].schema
            frame = spark.createDataFrame([tuple(r[n] for n in gold.fieldNames()) for r in gold_rows], schema=gold)
            frame.write.format("delta").mode("overwrite").save(tables.pitcher_readiness)
            gold_at = time.time()
        if silver_done is not None:
            silver_done.result()
    answered = [r["ingest_time"] for r in feats if not r["is_final"] and r["ingest_time"] is not None]
    return FeaturesWritten(len(feats), sum(r["is_final"] for r in feats), gold_at, answered)


def collect_batch(df: DataFrame) -> list[dict]:
    """The batch on the driver, as plain rows, in one Arrow transfer: a micro-batch is small."""
    wanted = ["branch", "valid", "kind", "event_time", "ingest_time", "environment", "calibration",
              *[n for n in FEATURE_NAMES if n not in ("event_time", "ingest_time")]]
    return records(df.select(*[c for c in wanted if c in df.columns]).toPandas(), FEATURES_SCHEMA)


def summarize(rows: list[dict], watermark: datetime) -> dict:
    """Figures of the batch: messages in, invalid, valid and new per kind, late among the new, the new
    pitches' arrival times."""
    every = [r for r in rows if r["branch"] == "all"]
    new = [r for r in rows if r["branch"] == "unique"]
    cutoff = watermark.replace(tzinfo=None)  # collected timestamps are naive UTC
    valid = [r["kind"] for r in every if r["valid"]]
    times = [r["event_time"] for r in every if r["event_time"] is not None]
    return {
        "rows_in": len(every),
        "bad": len(every) - len(valid),
        **{k: valid.count(k) for k in KEYS},
        **{f"new_{k}": sum(r["kind"] == k for r in new) for k in KEYS},
        **{f"late_{k}": sum(r["kind"] == k and r["event_time"] <= cutoff for r in new) for k in KEYS},
        "pitch_ingest_times": [r["ingest_time"] for r in new if r["kind"] == "pitch" and r["ingest_time"]],
        "max_event_time": max(times) if times else None,
    }


def latency_percentiles(committed_at: float, ingest_times: list[datetime]) -> tuple[float | None, ...]:
    """(p50, p99, max) seconds from arrival to commit."""
    if not ingest_times:
        return (None, None, None)
    arrived = np.array([t.timestamp() for t in ingest_times])  # collected timestamps are naive UTC
    lat = committed_at - arrived
    return (float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), float(lat.max()))


def write_stream_batch(batch_df: DataFrame, batch_id: int, *, tables: Tables, checkpoint: str,
                       baselines: Baselines | None = None, online: OnlinePublisher | None = None,
                       served_by: ServedBy | None = None) -> None:
    """foreachBatch writer of the readiness stream (bind the keyword arguments with functools.partial)."""
    spark = batch_df.sparkSession
    info = batch_info(spark, checkpoint, batch_id)
    app_id = f"stream-{query_id(spark, checkpoint)}"
    entered = time.time()
    # Materialized once: every action below reads this batch, and the stream's plan is not cheap.
    df = batch_df.localCheckpoint(eager=True)
    checkpointed = time.time()
    try:
        batch = collect_batch(df)
        materialized = time.time()
        summary = summarize(batch, info.watermark)
        has_features = baselines is not None and "is_final" in df.columns
        if not summary["rows_in"] and not has_features:
            return
        with ThreadPoolExecutor(max_workers=5) as pool:
            quarantine = pool.submit(write_quarantine, df, tables, info, app_id) if summary["bad"] else None
            bronze = {k: pool.submit(write_kind, df, k, tables, info, app_id) for k in KEYS if summary[f"new_{k}"]}
            features = (pool.submit(write_features, spark, batch, tables, info, app_id, baselines, online,
                                    served_by.stamps() if served_by else None)
                        if has_features else None)
            bronze_at = {k: f.result().committed_at for k, f in bronze.items()}
            scored = features.result() if features else FeaturesWritten(0, 0, None, [])
            commits = list(bronze_at.values())
            if quarantine is not None:
                commits.append(quarantine.result().committed_at)
            if scored.gold_commit:
                commits.append(scored.gold_commit)
        if not summary["rows_in"] and not scored.emitted:
            return  # a batch Spark runs only to move the watermark on, and nothing came due
        done = max(commits, default=time.time())
        pitches_at = bronze_at.get("pitch")
        p50, p99, pmax = (latency_percentiles(pitches_at, summary["pitch_ingest_times"])
                          if pitches_at else (None, None, None))
        r50, r99, _ = (latency_percentiles(scored.gold_commit, scored.ingest_times)
                       if scored.gold_commit else (None, None, None))
        new_pitches, late_pitches = summary["new_pitch"], summary["late_pitch"]
        row = {
            "query": "stream",
            "app_id": app_id,
            "batch_id": batch_id,
            "batch_time": info.trigger_time,
            "committed_at": datetime.fromtimestamp(pitches_at or done, timezone.utc),
            "rows_in": summary["rows_in"],
            "pitches_in": summary["pitch"],
            "pitches_written": new_pitches,
            "duplicates_dropped": sum(summary[k] - summary[f"new_{k}"] for k in KEYS),
            "quarantined": summary["bad"],
            "late_rows": sum(summary[f"late_{k}"] for k in KEYS),
            "late_pitches": late_pitches,
            "late_fraction": late_pitches / new_pitches if new_pitches else None,
            "environment_rows": summary["new_environment"],
            "calibration_rows": summary["new_calibration"],
            "watermark": info.watermark,
            "max_event_time": summary["max_event_time"],
            "batch_duration_s": done - info.trigger_time.timestamp(),
            "latency_p50_s": p50,
            "latency_p99_s": p99,
            "latency_max_s": pmax,
            "features_emitted": scored.emitted,
            "features_final": scored.final,
            "readiness_committed_at": (datetime.fromtimestamp(scored.gold_commit, timezone.utc)
                                       if scored.gold_commit else None),
            "readiness_latency_p50_s": r50,
            "readiness_latency_p99_s": r99,
        }
        metrics = spark.createDataFrame([row], schema=table_specs()["stream_metrics"].schema)
        append_once(metrics, tables.stream_metrics, app_id, batch_id)
        log.debug("batch %d stages: planned %.2fs, checkpointed %.2fs, collected %.2fs, bronze %s, gold %s, "
                  "commits %.2fs, metrics %.2fs", batch_id, entered - info.trigger_time.timestamp(),
                  checkpointed - entered, materialized - checkpointed,
                  {k: round(v - materialized, 2) for k, v in bronze_at.items()},
                  round(scored.gold_commit - materialized, 2) if scored.gold_commit else None,
                  done - materialized, time.time() - done)
        print(
            f"stream batch {batch_id}: {row['rows_in']} in, {row['pitches_written']} pitches written "
            f"({row['late_pitches']} late), {row['duplicates_dropped']} duplicates, {row['quarantined']} quarantined, "
            f"{scored.emitted} features ({scored.final} final), {row['batch_duration_s']:.2f}s"
            + (f", latency p50 {p50:.2f}s p99 {p99:.2f}s" if p50 is not None else "")
            + (f", readiness p99 {r99:.2f}s" if r99 is not None else ""),
            flush=True,
        )
    finally:
        df.unpersist()
