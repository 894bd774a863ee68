"""Named, idempotent writers of the ingest stream, called once per micro-batch by foreachBatch.

The stream hands each micro-batch over as two branches of the same messages (spark_jobs.ingest.main):
`all` (every message, parsed and validated) and `unique` (the first arrival of each valid event, Spark's
deduplication state having dropped the copies). `write_ingest_batch` then commits
  - `quarantine`: every invalid message of `all`, with its reason;
  - bronze `pitches`, `environment_readings`, `calibration_events`: the `unique` rows, those at or behind
    the watermark for late rows flagged `is_late` - landed and counted, never dropped;
  - one `stream_metrics` row.
Each append is exactly once (lakehouse.append_once) and every figure is computed from the batch itself,
so a batch replayed after a crash writes nothing twice and records the same figures. The appends of one
batch run concurrently: on two cores a Delta commit is mostly waiting, not computing.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from readiness_platform.checkpoint import BatchInfo, batch_info, query_id
from readiness_platform.lakehouse import Commit, append_once, table_specs
from readiness_platform.settings import Tables
from readiness_platform.transforms.contract import EVENT_KEYS

log = logging.getLogger("readiness.ingest")
KEYS = EVENT_KEYS
TABLE_OF = {"pitch": "pitches", "environment": "environment_readings", "calibration": "calibration_events"}


def is_late(watermark: datetime) -> Column:
    """Spark's own rule: a row is late when its event time is at or behind the watermark for late events
    (checkpoint.BatchInfo.watermark), the one Spark's deduplication state drops it by."""
    return F.col("event_time") <= F.lit(watermark)


@dataclass(frozen=True)
class Written:
    """New rows of one kind that a batch committed."""

    rows: int
    late: int
    commit: Commit | None
    ingest_times: list[datetime]


def _bronze(rows: DataFrame, kind: str, info: BatchInfo, app_id: str) -> DataFrame:
    spec = table_specs()[TABLE_OF[kind]]
    out = rows.select(f"{kind}.*", "source").withColumns({
        "is_late": is_late(info.watermark),
        "watermark": F.lit(info.watermark),
        "ingest_app_id": F.lit(app_id),
        "ingest_batch_id": F.lit(info.batch_id).cast("long"),
    })
    return out.select(*[f.name for f in spec.schema.fields])


def _commit(rows: DataFrame, path: str, app_id: str, batch_id: int, partition_by: tuple[str, ...]) -> Written:
    rows = rows.persist()
    try:
        seen = rows.select("ingest_time", "is_late").collect()
        if not seen:
            return Written(0, 0, None, [])
        commit = append_once(rows, path, app_id, batch_id, partition_by)
        return Written(len(seen), sum(r["is_late"] for r in seen), commit,
                       [r["ingest_time"] for r in seen if r["ingest_time"] is not None])
    finally:
        rows.unpersist()


def write_kind(df: DataFrame, kind: str, tables: Tables, info: BatchInfo, app_id: str) -> Written:
    """Commit one kind's new rows: the `unique` branch holds each event's first arrival only."""
    rows = _bronze(df.where((F.col("branch") == "unique") & (F.col("kind") == kind)), kind, info, app_id)
    return _commit(rows, tables.path(TABLE_OF[kind]), app_id, info.batch_id,
                   table_specs()[TABLE_OF[kind]].partition_by)


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


def latency_percentiles(committed_at: float, ingest_times: list[datetime]) -> tuple[float | None, ...]:
    """(p50, p99, max) seconds from arrival to commit."""
    if not ingest_times:
        return (None, None, None)
    arrived = np.array([t.timestamp() for t in ingest_times])  # collected timestamps are naive local time
    lat = committed_at - arrived
    return (float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), float(lat.max()))


def summarize(df: DataFrame) -> dict:
    """Counts of the batch's `all` branch, computed on the driver from one small collect (no shuffle)."""
    rows = df.where(F.col("branch") == "all").select("valid", "kind", "event_time").collect()
    kinds = [r["kind"] for r in rows if r["valid"]]
    times = [r["event_time"] for r in rows if r["event_time"] is not None]
    return {
        "rows_in": len(rows),
        "bad": len(rows) - len(kinds),
        **{k: kinds.count(k) for k in KEYS},
        "max_event_time": max(times) if times else None,
    }


def write_ingest_batch(batch_df: DataFrame, batch_id: int, *, tables: Tables, checkpoint: str) -> None:
    """foreachBatch writer of the ingest stream (bind tables and checkpoint with functools.partial)."""
    spark = batch_df.sparkSession
    info = batch_info(spark, checkpoint, batch_id)
    app_id = f"ingest-{query_id(spark, checkpoint)}"
    # Materialized once: the parse plan is large, and every action below would re-plan it otherwise.
    entered = time.time()
    df = batch_df.localCheckpoint(eager=True)
    try:
        materialized = time.time()
        summary = summarize(df)
        summarized = time.time()
        if not summary["rows_in"]:
            return  # a batch Spark runs only to move the watermark on
        nothing = Written(0, 0, None, [])
        with ThreadPoolExecutor(max_workers=4) as pool:
            quarantine = pool.submit(write_quarantine, df, tables, info, app_id) if summary["bad"] else None
            futures = {k: pool.submit(write_kind, df, k, tables, info, app_id) for k in KEYS if summary[k]}
            written = {k: futures[k].result() if k in futures else nothing for k in KEYS}
            commits = [w.commit for w in written.values() if w.commit]
            if quarantine is not None:
                commits.append(quarantine.result())
        done = max((c.committed_at for c in commits), default=time.time())
        pitches = written["pitch"]
        p50, p99, pmax = (latency_percentiles(pitches.commit.committed_at, pitches.ingest_times)
                          if pitches.commit else (None, None, None))
        row = {
            "query": "ingest",
            "app_id": app_id,
            "batch_id": batch_id,
            "batch_time": info.trigger_time,
            "committed_at": datetime.fromtimestamp(
                pitches.commit.committed_at if pitches.commit else done, timezone.utc),
            "rows_in": summary["rows_in"],
            "pitches_in": summary["pitch"],
            "pitches_written": pitches.rows,
            "duplicates_dropped": sum(summary[k] - written[k].rows for k in KEYS),
            "quarantined": summary["bad"],
            "late_rows": sum(w.late for w in written.values()),
            "late_pitches": pitches.late,
            "late_fraction": pitches.late / pitches.rows if pitches.rows else None,
            "environment_rows": written["environment"].rows,
            "calibration_rows": written["calibration"].rows,
            "watermark": info.watermark,
            "max_event_time": summary["max_event_time"],
            "batch_duration_s": done - info.trigger_time.timestamp(),
            "latency_p50_s": p50,
            "latency_p99_s": p99,
            "latency_max_s": pmax,
        }
        metrics = spark.createDataFrame([row], schema=table_specs()["stream_metrics"].schema)
        append_once(metrics, tables.stream_metrics, app_id, batch_id)
        log.debug(
            "ingest batch %d stages: planned %.2fs, materialized %.2fs, summarized %.2fs, data commits %.2fs, "
            "metrics commit %.2fs", batch_id, entered - info.trigger_time.timestamp(), materialized - entered,
            summarized - materialized, done - summarized, time.time() - done,
        )
        print(
            f"ingest batch {batch_id}: {row['rows_in']} in, {row['pitches_written']} pitches written "
            f"({row['late_pitches']} late), {row['duplicates_dropped']} duplicates, {row['quarantined']} quarantined, "
            f"{row['batch_duration_s']:.2f}s" + (f", latency p50 {p50:.2f}s p99 {p99:.2f}s" if p50 is not None else ""),
            flush=True,
        )
    finally:
        df.unpersist()
