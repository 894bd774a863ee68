"""Named, idempotent writers of the readiness stream, called once per micro-batch by foreachBatch.

The stream hands each micro-batch over as up to three branches (spark_jobs.stream.main.branches):
`all` (every message's validity, kind and time, and the raw line of an invalid one), `unique` (the first
arrival of each valid event) and `features` (the pitchers' state: provisional and final feature rows).
`write_stream_batch` commits
  - `quarantine`: every invalid message of `all`, with its reason;
  - bronze `pitches`, `environment_readings`, `calibration_events`: the `unique` rows, those at or behind
    the watermark for late rows flagged `is_late` - landed and counted, never dropped;
  - silver `pitch_features`: the final feature rows, scored for every model version;
  - gold `pitcher_readiness`: each pitcher's latest row per version, provisional ones included, so a
    pitch updates its pitcher's readiness in the micro-batch it arrives in;
  - one `stream_metrics` row (by a MetricsCommitter, after the micro-batch: see there).
Appends are exactly once (lakehouse.append_once); gold is rewritten whole (idempotent, it is one row per
pitcher and version). Every figure is computed from the batch itself, so a batch replayed after a crash
writes nothing twice and records the same figures.

The stream's plan runs once per micro-batch: the batch comes to the driver in one Arrow transfer, and
every table is committed from that Arrow data through delta-rs (lakehouse.append_once, overwrite), 20-60
ms a commit. Measured per warm micro-batch before this design: a Spark write job per table cost 0.2-0.3 s
for an append and ~0.6 s for gold's overwrite, the metrics commit 0.3 s after them, and the batch was
materialized first (localCheckpoint) for those jobs to read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from readiness_platform.checkpoint import BatchInfo, batch_info, query_id
from readiness_platform.feature_store import OnlinePublisher, batch_source
from readiness_platform.lakehouse import Commit, append_once, arrow_schema, overwrite, rs_uri, table_specs
from readiness_platform.model_registry import ServedBy
from readiness_platform.settings import Tables
from readiness_platform.transforms.contract import EVENT_KEYS
from readiness_platform.transforms.features import FEATURES_SCHEMA, Baselines, build_timelines, score_rows

FEATURE_NAMES = FEATURES_SCHEMA.fieldNames()

log = logging.getLogger("readiness.stream")
KEYS = EVENT_KEYS
TABLE_OF = {"pitch": "pitches", "environment": "environment_readings", "calibration": "calibration_events"}


def _const(value, n: int, dtype: pa.DataType) -> pa.Array:  # noqa: ANN001
    return pa.repeat(pa.scalar(value, dtype), n)


def _table(name: str, columns: dict) -> pa.Table:
    """Columns by name -> an Arrow table in the column order and types of lakehouse table `name`."""
    schema = arrow_schema(name)
    return pa.table([columns[f.name] for f in schema], schema=schema)


def _bronze(batch: pa.Table, kind: str, info: BatchInfo, app_id: str) -> pa.Table:
    """The batch's new events of one kind as bronze rows. Late: the event time is at or behind the
    watermark for late events (checkpoint.BatchInfo.watermark), the one Spark's stateful operators drop by."""
    rows = batch.filter((pc.field("branch") == "unique") & (pc.field("kind") == kind))
    event = rows[kind].combine_chunks()
    n = rows.num_rows
    ts = pa.timestamp("us", tz="UTC")
    columns = {f.name: event.field(i) for i, f in enumerate(event.type)}
    columns.update({
        "source": rows["source"],
        "is_late": pc.less_equal(columns["event_time"], pa.scalar(info.watermark, ts)),
        "watermark": _const(info.watermark, n, ts),
        "ingest_app_id": _const(app_id, n, pa.string()),
        "ingest_batch_id": _const(info.batch_id, n, pa.int64()),
    })
    return _table(TABLE_OF[kind], columns)


def write_kind(batch: pa.Table, kind: str, tables: Tables, info: BatchInfo, app_id: str) -> Commit:
    """Commit one kind's new rows to bronze: the `unique` branch holds each event's first arrival only."""
    spec = table_specs()[TABLE_OF[kind]]
    return append_once(_bronze(batch, kind, info, app_id), tables.path(TABLE_OF[kind]), app_id, info.batch_id,
                       spec.partition_by)


def write_quarantine(batch: pa.Table, tables: Tables, info: BatchInfo, app_id: str) -> Commit:
    bad = batch.filter((pc.field("branch") == "all") & ~pc.field("valid"))
    n = bad.num_rows
    columns = {
        "payload": bad["value"], "reason": bad["reason"], "kind": bad["kind"], "event_time": bad["event_time"],
        "quarantined_at": _const(info.trigger_time, n, pa.timestamp("us", tz="UTC")), "source": bad["source"],
        "ingest_app_id": _const(app_id, n, pa.string()), "ingest_batch_id": _const(info.batch_id, n, pa.int64()),
    }
    return append_once(_table("quarantine", columns), tables.quarantine, app_id, info.batch_id)


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

    def add(self, rows: list[dict]) -> None:
        """The batch's new on-time calibrations and readings (`context_rows`: late ones are left out, as the
        recompute does)."""
        for r in rows:
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
_scores: dict = {}  # provisional scores by pitch, for its final row (transforms.features.score_rows)


def forget_caches() -> None:
    """As a restart would: the next batch rebuilds the caches from Delta."""
    global _context, _gold, _scores
    with _caches_lock:
        _context, _gold, _scores = ContextCache(), GoldCache(), {}


@dataclass(frozen=True)
class FeaturesWritten:
    emitted: int
    final: int
    gold_commit: float | None
    ingest_times: np.ndarray  # epoch seconds of the pitches answered (provisionally) in this batch
    finished: float | None = None  # epoch seconds: silver and gold written (the online store in the background)


def write_features(spark: SparkSession, batch: pa.Table, tables: Tables, info: BatchInfo, app_id: str,
                   baselines: Baselines, online: OnlinePublisher | None = None,
                   served: dict[str, str] | None = None) -> FeaturesWritten:
    """Score the pitchers' feature rows, append the final ones to silver, refresh gold and the online store.

    The pitchers whose latest row changed are handed to the online writer (OnlinePublisher.submit), which
    writes them while the Delta commits run and the next micro-batch starts: the dashboard sees a pitch as
    soon as it is scored (a replayed batch pushes the same rows again).

    The rows of one micro-batch are few (two per pitch at most): they are scored on the driver with the
    same function the batch recompute runs on the executors (transforms.features.score_rows). Each row is
    stamped with the registered model that produced it (`served`: scoring version -> <name>/<version>).
    """
    with _caches_lock:
        _context.seed(spark, tables)
        _context.add(context_rows(batch, info.watermark))
        timelines = _context.timelines()
        _gold.seed(spark, tables)
    feats = _rows(batch, pc.field("branch") == "features", FEATURE_NAMES)
    if not feats:
        return FeaturesWritten(0, 0, None, np.array([]))
    started = time.time()
    served = served or {}
    rows = score_rows(feats, timelines, baselines, _scores)
    for r in rows:
        r["registered_model"] = served.get(r["model_version"])
    scored_at = time.time()
    with _caches_lock:
        changed = _gold.update(rows, datetime.now(timezone.utc).replace(tzinfo=None))
        gold_rows = list(_gold.rows.values())
    # The online write first: it is the dashboard's path. Silver's and gold's rows are turned into Arrow
    # after it is handed over, in the pool (measured at 2,000 events/s: silver's conversion in this thread
    # held the handover back ~0.05 s a micro-batch).
    if online is not None:  # the newest row per pitcher; every pitch in the outing (written in the background)
        online.submit(changed, scored=rows, source=batch_source(app_id, info.batch_id))
    submitted_at = time.time()
    silver = table_specs()["pitch_features"]
    lineage = {"ingest_app_id": app_id, "ingest_batch_id": info.batch_id}
    final = [{**r, **lineage} for r in rows if r["is_final"]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        silver_done = (pool.submit(lambda: append_once(pa.Table.from_pylist(final, schema=arrow_schema("pitch_features")),
                                                       tables.pitch_features, app_id, info.batch_id, silver.partition_by))
                       if final else None)
        # gold beside the online write, not after it (delta-rs commits outside the GIL): 0.03 s a micro-batch
        gold_done = (pool.submit(lambda: overwrite(pa.Table.from_pylist(gold_rows, schema=arrow_schema("pitcher_readiness")),
                                                   tables.pitcher_readiness))
                     if changed else None)
        gold_at = gold_done.result() if gold_done is not None else None
        if silver_done is not None:
            silver_done.result()
    finished = time.time()
    log.debug("batch %d features: %d scored %.2fs, handed to the online writer %.2fs, gold %s, "
              "silver and gold written %.2fs",
              info.batch_id, len(feats), scored_at - started, submitted_at - scored_at,
              round(gold_at - submitted_at, 2) if gold_at else None, finished - started)
    answered = _seconds(batch.filter((pc.field("branch") == "features") & ~pc.field("is_final"))["ingest_time"])
    return FeaturesWritten(len(feats), sum(r["is_final"] for r in feats), gold_at, answered, finished)


def _naive(dtype: pa.DataType) -> pa.DataType:
    """The type with its timestamps as naive UTC, nested ones too (as the rest of the writer reads them).
    Nested fields become nullable: a null struct's fields hold nulls even where its type says not null."""
    if pa.types.is_timestamp(dtype):
        return pa.timestamp(dtype.unit)
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_naive(f.type)).with_nullable(True) for f in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(dtype.value_field.with_type(_naive(dtype.value_type)))
    return dtype


def _rows(batch: pa.Table, where: pc.Expression, columns: list[str]) -> list[dict]:
    """The rows of the batch where `where` holds, as plain dicts of `columns` (timestamps naive UTC). Only
    these become Python objects: the whole batch as rows cost ~0.6 s of a 20,000-message micro-batch."""
    if not all(c in batch.column_names for c in columns):
        return []  # a batch without that branch (a backfill has no pitchers' state)
    rows = batch.filter(where).select(columns)
    return rows.cast(pa.schema([f.with_type(_naive(f.type)) for f in rows.schema])).to_pylist()


def context_rows(batch: pa.Table, watermark: datetime) -> list[dict]:
    """The batch's new on-time calibrations and readings: what scoring learns of the air and the cameras."""
    return _rows(batch, (pc.field("branch") == "unique") & pc.field("kind").isin(["calibration", "environment"])
                 & (pc.field("event_time") > pa.scalar(watermark, pa.timestamp("us", tz="UTC"))),
                 ["kind", "calibration", "environment"])


def _seconds(times: pa.ChunkedArray) -> np.ndarray:
    """An Arrow timestamp column's values (nulls left out) as epoch seconds."""
    return pc.cast(times.drop_null(), pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy() / 1e6


def summarize(batch: pa.Table, watermark: datetime) -> dict:
    """Figures of the batch, counted in Arrow: messages in, invalid, valid and new per kind, late among the
    new, the new pitches' arrival times (epoch seconds)."""
    every = batch.filter(pc.field("branch") == "all")
    new = batch.filter(pc.field("branch") == "unique")
    late = new.filter(pc.field("event_time") <= pa.scalar(watermark, pa.timestamp("us", tz="UTC")))
    valid = Counter(every.filter(pc.field("valid"))["kind"].to_pylist())
    fresh, behind = Counter(new["kind"].to_pylist()), Counter(late["kind"].to_pylist())
    latest = pc.max(every["event_time"]).as_py() if every.num_rows else None
    return {
        "rows_in": every.num_rows,
        "bad": every.num_rows - sum(valid.values()),
        **{k: valid[k] for k in KEYS},
        **{f"new_{k}": fresh[k] for k in KEYS},
        **{f"late_{k}": behind[k] for k in KEYS},
        "pitch_ingest_times": _seconds(new.filter(pc.field("kind") == "pitch")["ingest_time"]),
        "max_event_time": latest,
    }


def latency_percentiles(committed_at: float, arrived: np.ndarray) -> tuple[float | None, ...]:
    """(p50, p99, max) seconds from arrival (epoch seconds) to commit."""
    if not len(arrived):
        return (None, None, None)
    lat = committed_at - arrived
    return (float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), float(lat.max()))


class MetricsCommitter:
    """Commits each micro-batch's `stream_metrics` row after the micro-batch, in the background.

    The row's Delta commit was the last step of every micro-batch, before the next one could start. Now the
    micro-batch saves the row in its checkpoint folder (`readiness-metrics-pending/<batch>.arrow`, written
    then renamed, through pyarrow's file systems) and returns: that last step went from 0.04 to 0.02 s
    (p50, landing harness at 2,000 events/s; on object storage a Delta commit costs far more than a
    file's write). One thread commits the row (exactly once, lakehouse.append_once) and deletes the file.
    A process that stops in between leaves the file: the next start commits it (`recover`) before the
    stream runs again, so no row is lost and none is doubled. A failed commit is raised at the next micro-batch (the stream stops; the file stays for the
    restart). `wait` returns once every row handed over is committed.
    """

    FOLDER = "readiness-metrics-pending"

    def __init__(self, checkpoint: str, tables: Tables) -> None:
        from pyarrow import fs as pafs

        uri = rs_uri(checkpoint.rstrip("/"))  # s3a:// is s3:// to pyarrow, as to delta-rs
        self.fs, root = pafs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))
        self.folder = f"{root}/{self.FOLDER}"
        self.tables = tables
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-commit")
        self._pending: Future | None = None
        self._folder_made = False

    def recover(self) -> int:
        """Commit the rows a stopped process left (in micro-batch order); how many there were."""
        from pyarrow import fs as pafs

        found = self.fs.get_file_info(pafs.FileSelector(self.folder, allow_not_found=True))
        saved = sorted((f.path for f in found if f.base_name.endswith(".arrow")),
                       key=lambda p: int(p.rsplit("/", 1)[1][:-len(".arrow")]))
        for f in found:
            if not f.base_name.endswith(".arrow"):  # a save cut short: its micro-batch runs again
                self.fs.delete_file(f.path)
        for path in saved:
            with self.fs.open_input_stream(path) as stream:
                self._commit(pa.ipc.open_stream(stream.read()).read_all(), path)
        return len(saved)

    def submit(self, row: pa.Table) -> None:
        """Save the row, then commit it in the background (after the rows handed over before it)."""
        self.wait()
        path = f"{self.folder}/{row['batch_id'][0].as_py()}.arrow"
        if not self._folder_made:  # once, not every micro-batch
            self.fs.create_dir(self.folder, recursive=True)
            self._folder_made = True
        with self.fs.open_output_stream(f"{path}.part") as out, pa.ipc.new_stream(out, row.schema) as ipc:
            ipc.write_table(row)
        self.fs.move(f"{path}.part", path)
        self._pending = self._writer.submit(self._commit, row, path)

    def _commit(self, row: pa.Table, path: str) -> None:
        append_once(row, self.tables.stream_metrics, row["app_id"][0].as_py(), row["batch_id"][0].as_py())
        self.fs.delete_file(path)

    def wait(self) -> None:
        """Until the last row handed over is committed (its failure raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


def write_stream_batch(batch_df: DataFrame, batch_id: int, *, tables: Tables, checkpoint: str,
                       baselines: Baselines | None = None, online: OnlinePublisher | None = None,
                       served_by: ServedBy | None = None, metrics: MetricsCommitter | None = None) -> None:
    """foreachBatch writer of the readiness stream (bind the keyword arguments with functools.partial).
    The batch's `stream_metrics` row is committed by `metrics` in the background, or here without it."""
    called = time.time()
    spark = batch_df.sparkSession
    info = batch_info(spark, checkpoint, batch_id)
    app_id = f"stream-{query_id(spark, checkpoint)}"
    entered = time.time()
    # The stream's plan runs once: the batch comes to the driver in one Arrow transfer (a micro-batch is
    # small) and every table is written from there.
    arrow = batch_df.toArrow()
    ran = time.time()
    summary = summarize(arrow, info.watermark)
    summarized = time.time()
    has_features = baselines is not None and "is_final" in arrow.column_names
    if not summary["rows_in"] and not has_features:
        return
    with ThreadPoolExecutor(max_workers=5) as pool:
        quarantine = pool.submit(write_quarantine, arrow, tables, info, app_id) if summary["bad"] else None
        bronze = {k: pool.submit(write_kind, arrow, k, tables, info, app_id) for k in KEYS if summary[f"new_{k}"]}
        features = (pool.submit(write_features, spark, arrow, tables, info, app_id, baselines, online,
                                served_by.stamps() if served_by else None)
                    if has_features else None)
        bronze_at = {k: f.result().committed_at for k, f in bronze.items()}
        scored = features.result() if features else FeaturesWritten(0, 0, None, np.array([]))
        commits = list(bronze_at.values())
        if quarantine is not None:
            commits.append(quarantine.result().committed_at)
        if scored.finished:
            commits.append(scored.finished)
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
    figures = pa.Table.from_pylist([row], schema=arrow_schema("stream_metrics"))
    if metrics is not None:
        metrics.submit(figures)
    else:
        append_once(figures, tables.stream_metrics, app_id, batch_id)
    log.debug("batch %d stages: planned %.2fs (checkpoint read %.3fs), ran %.2fs, summarized %.2fs, bronze %s, gold %s, "
              "commits %.2fs, metrics row saved %.2fs", batch_id, entered - info.trigger_time.timestamp(),
              entered - called, ran - entered, summarized - ran,
              {k: round(v - summarized, 2) for k, v in bronze_at.items()},
              round(scored.gold_commit - summarized, 2) if scored.gold_commit else None,
              done - summarized, time.time() - done)
    print(
        f"stream batch {batch_id}: {row['rows_in']} in, {row['pitches_written']} pitches written "
        f"({row['late_pitches']} late), {row['duplicates_dropped']} duplicates, {row['quarantined']} quarantined, "
        f"{scored.emitted} features ({scored.final} final), {row['batch_duration_s']:.2f}s"
        + (f", latency p50 {p50:.2f}s p99 {p99:.2f}s" if p50 is not None else "")
        + (f", readiness p99 {r99:.2f}s" if r99 is not None else ""),
        flush=True,
    )
