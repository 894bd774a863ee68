"""The Delta tables of the lakehouse: their schemas, their creation, and exactly-once appends.

Exactly once: every micro-batch append carries a commit marker `{"app": ..., "batch": ...}` in Delta's
userMetadata. A writer looks up the newest marker of its app once per process (a replayed batch can only
be the first one after a restart) and skips a batch that is already committed. This is what Delta's own
txnAppId/txnVersion does; measured here, those options added ~0.5 s to every commit (they rebuild the
table's transaction set each time), which the latency budget cannot afford.

The stream's micro-batches are small and already on the driver, so its commits (`append_once`,
`overwrite`) go through delta-rs, Delta's Rust writer, from Arrow: 20-30 ms each where a Spark write job
costs 0.2 s for an append and 0.6 s for an overwrite on two cores (its overwrite lists the live files with
a Spark job). The tables are the same Delta tables, created by Spark (`ensure_tables`, protocol 1/2),
read and rewritten by Spark's batch jobs; Spark's history reads the markers delta-rs writes.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import cache

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from readiness_platform.domain.events import PITCH_KEY
from readiness_platform.settings import Tables
from readiness_platform.transforms.baselines import BASELINE_SCHEMA
from readiness_platform.transforms.contract import record_schema
from readiness_platform.transforms.features import SCORED_SCHEMA


def _f(name: str, dtype: T.DataType, nullable: bool = True, comment: str = "") -> T.StructField:
    return T.StructField(name, dtype, nullable, metadata={"comment": comment} if comment else {})


SERVED_BY = _f("registered_model", T.StringType(),
                comment="The MLflow model version that produced the row (<name>/<version>) when it was scored: "
                        "champion or challenger of its scoring version; null if neither alias held it.")
LINEAGE = [
    _f("source", T.StringType(), comment="Where the message came from: landing file or topic/partition/offset."),
    _f("ingest_app_id", T.StringType(), comment="Stream run (checkpoint) that wrote the row."),
    _f("ingest_batch_id", T.LongType(), comment="Micro-batch of that run that wrote the row."),
]
ARRIVAL = [
    _f("is_late", T.BooleanType(), False, "Arrived after the watermark had passed its event time."),
    _f("watermark", T.TimestampType(), comment="The stream's event-time watermark when it arrived."),
]


def _keyed_first(schema: T.StructType, key: tuple[str, ...]) -> list[T.StructField]:
    """Key columns first: Delta keeps statistics on the leading columns, so lookups by key skip files."""
    by_name = {f.name: f for f in schema.fields}
    return [by_name[k] for k in key] + [f for f in schema.fields if f.name not in key]


# Tables a stream appends to every micro-batch. Each commit reads the table's latest checkpoint and every
# commit file after it, so the interval bounds a commit's cost: delta-rs (the stream's writer) took 13 ms
# a commit at interval 25 and 340 ms at interval 1000 with 760 commits pending (measured here); it writes
# the checkpoint itself in a few ms. (Spark's writer checkpoints with a Spark job, 1-5 s.)
STREAMING = {"delta.checkpointInterval": "25"}


@dataclass(frozen=True)
class TableSpec:
    """A Delta table: name, schema, partitioning and what analysts should know about it."""

    name: str
    schema: T.StructType
    description: str
    partition_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)


def table_specs() -> dict[str, TableSpec]:
    pitch = _keyed_first(record_schema("pitch"), (*PITCH_KEY, "game_date", "pitcher_id", "event_time"))
    env = _keyed_first(record_schema("environment"), ("tracking_system_id", "event_time"))
    cal = _keyed_first(record_schema("calibration"), ("calibration_id", "tracking_system_id", "event_time"))
    scored = _keyed_first(SCORED_SCHEMA, (*PITCH_KEY, "model_version", "pitcher_id", "game_date", "event_time"))
    specs = [
        TableSpec("pitches", T.StructType(pitch + ARRIVAL + LINEAGE),
                  "Bronze: every valid tracked pitch exactly once; late arrivals flagged, not dropped.",
                  partition_by=("game_date",),
                  # statistics on the key, pitcher and times only: cheaper commits, same file skipping
                  properties={**STREAMING, "delta.dataSkippingNumIndexedCols": "7"}),
        TableSpec("environment_readings", T.StructType(env + ARRIVAL + LINEAGE),
                  "Bronze: environment readings per tracking system, exactly once.", properties=STREAMING),
        TableSpec("calibration_events", T.StructType(cal + ARRIVAL + LINEAGE),
                  "Bronze: calibrations per tracking system, exactly once.", properties=STREAMING),
        TableSpec("quarantine", T.StructType([
            _f("payload", T.StringType(), False, "The message exactly as received."),
            _f("reason", T.StringType(), False, "Every contract rule it broke."),
            _f("kind", T.StringType(), comment="Its kind, when readable."),
            _f("event_time", T.TimestampType(), comment="Its event time, when readable."),
            _f("quarantined_at", T.TimestampType(), False, "Trigger time of the micro-batch that caught it."),
            *LINEAGE,
        ]), "Every message that failed the feed contract, with the raw payload and the reason.",
            properties=STREAMING),
        TableSpec("stream_metrics", T.StructType([
            _f("query", T.StringType(), False, "Which stream: ingest, features, ..."),
            _f("app_id", T.StringType(), False),
            _f("batch_id", T.LongType(), False),
            _f("batch_time", T.TimestampType(), False, "When the micro-batch was triggered."),
            _f("committed_at", T.TimestampType(), False,
               "When its main table commit (bronze pitches, if any) became visible."),
            _f("rows_in", T.LongType(), False, "Messages in the batch, valid or not."),
            _f("pitches_in", T.LongType(), False, "Valid pitch messages, duplicates included."),
            _f("pitches_written", T.LongType(), False, "New pitches committed to bronze."),
            _f("duplicates_dropped", T.LongType(), False, "Valid messages already seen (any kind)."),
            _f("quarantined", T.LongType(), False),
            _f("late_rows", T.LongType(), False, "Valid new rows of any kind behind the watermark."),
            _f("late_pitches", T.LongType(), False),
            _f("late_fraction", T.DoubleType(), comment="late_pitches / pitches_written."),
            _f("environment_rows", T.LongType(), False),
            _f("calibration_rows", T.LongType(), False),
            _f("watermark", T.TimestampType(), comment="Event-time watermark the batch ran under."),
            _f("max_event_time", T.TimestampType(), comment="Newest event time in the batch."),
            _f("batch_duration_s", T.DoubleType(), False, "Trigger to last commit."),
            _f("latency_p50_s", T.DoubleType(), comment="Event arrival (ingest_time) to commit, median."),
            _f("latency_p99_s", T.DoubleType(), comment="Event arrival (ingest_time) to commit, 99th pct."),
            _f("latency_max_s", T.DoubleType()),
            _f("features_emitted", T.LongType(), comment="Feature rows the pitcher state emitted (provisional + final)."),
            _f("features_final", T.LongType(), comment="Final rows among them (written to pitch_features)."),
            _f("readiness_committed_at", T.TimestampType(), comment="When pitcher_readiness was updated."),
            _f("readiness_latency_p50_s", T.DoubleType(), comment="Arrival to pitcher_readiness, median."),
            _f("readiness_latency_p99_s", T.DoubleType(), comment="Arrival to pitcher_readiness, 99th pct."),
        ]), "One row per micro-batch of each stream: volumes, faults, lateness, duration and latency.",
            properties=STREAMING),
        TableSpec("pitch_features", T.StructType([*scored, SERVED_BY, *LINEAGE[1:]]),
                  "Silver: final features, indices and alert of every pitch, one row per model version.",
                  partition_by=("game_date",),
                  properties={**STREAMING, "delta.dataSkippingNumIndexedCols": "8"}),
        TableSpec("pitcher_readiness", T.StructType([
            *scored, SERVED_BY,
            _f("updated_at", T.TimestampType(), False, "When the stream last changed this row.")]),
                  "Gold: each pitcher's latest readiness per model version (provisional until final).",
                  properties=STREAMING),
        TableSpec("feature_qa", T.StructType([
            _f("checked_at", T.TimestampType(), False, "When the suite ran."),
            _f("table", T.StringType(), False, "The table validated: pitches or pitch_features."),
            _f("scope", T.StringType(), False, "Which rows: e.g. game_date = 2020-09-03."),
            _f("feature_qa", T.DoubleType(), False, "Share of the suite's expectations met, 0-1; < 0.7 critical."),
            _f("level", T.StringType(), False, "ok or critical."),
            _f("success", T.BooleanType(), False),
            _f("failures", T.ArrayType(T.StringType()), False, "Each failed expectation, with its rows."),
            _f("dagster_run_id", T.StringType()),
        ]), "One row per quality-gate run: the feature QA score the alerts read."),
        TableSpec("seasonal_baselines", BASELINE_SCHEMA,
                  "Per pitcher, season and pitch family: the reference the z-scores are taken against.",
                  partition_by=("season",)),
    ]
    return {s.name: s for s in specs}


def _properties(path: str) -> dict[str, str]:
    from deltalake import DeltaTable

    return DeltaTable(rs_uri(path)).metadata().configuration


def ensure_tables(spark: SparkSession, tables: Tables, names: list[str] | None = None) -> None:
    """Create the Delta tables that do not exist yet (empty, with their schema and partitioning), and add
    the columns and table properties a newer release gave an existing table (additive changes only;
    writers match by name)."""
    from delta.tables import DeltaTable

    for name, spec in table_specs().items():
        if names is not None and name not in names:
            continue
        path = tables.path(name)
        if DeltaTable.isDeltaTable(spark, path):
            have = set(spark.read.format("delta").load(path).columns)
            missing = [f for f in spec.schema.fields if f.name not in have]
            if missing:
                spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ("
                          + ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in missing) + ")")
            changed = {k: v for k, v in spec.properties.items() if _properties(path).get(k) != v}
            if changed:
                spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ("
                          + ", ".join(f"'{k}' = '{v}'" for k, v in changed.items()) + ")")
            continue
        builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(spec.schema).comment(spec.description)
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        for k, v in spec.properties.items():
            builder = builder.property(k, v)
        builder.execute()


@dataclass(frozen=True)
class Commit:
    """Outcome of an exactly-once append."""

    committed_at: float  # epoch seconds the data became visible
    skipped: bool  # True when this batch was already committed by an earlier attempt


_lock = threading.Lock()
_last_batch: dict[tuple[str, str], tuple[int, float]] = {}  # (path, app) -> (batch, commit epoch)


def _marker(app_id: str, batch_id: int) -> str:
    return json.dumps({"app": app_id, "batch": batch_id}, separators=(",", ":"))


def _find_last_commit(path: str, app_id: str) -> tuple[int, float]:
    """Newest (batch, commit time) written to `path` by `app_id`, or (-1, 0) if none."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(rs_uri(path)):
        return (-1, 0.0)
    table = DeltaTable(rs_uri(path))
    for limit in (50, 1000, None):
        history = table.history(limit)  # newest first
        for commit in history:
            try:
                meta = json.loads(commit.get("userMetadata") or "")
            except ValueError:
                continue
            if isinstance(meta, dict) and meta.get("app") == app_id:
                return (int(meta["batch"]), commit["timestamp"] / 1000)
        if limit is None or len(history) < limit:
            break
    return (-1, 0.0)


def rs_uri(path: str) -> str:
    """A table path as delta-rs takes it: Hadoop's s3a:// is s3:// there (credentials from AWS_* variables)."""
    return path.replace("s3a://", "s3://", 1)


@cache
def arrow_schema(name: str) -> pa.Schema:
    """The Arrow schema of a lakehouse table: what its delta-rs writes must match (built once: every
    micro-batch asks for it)."""
    return to_arrow_schema(table_specs()[name].schema, timezone="UTC")


def append_once(rows: pa.Table, path: str, app_id: str, batch_id: int, partition_by: tuple[str, ...] = ()) -> Commit:
    """Append `rows` to the Delta table at `path` unless batch `batch_id` of `app_id` is already there."""
    from deltalake import CommitProperties, write_deltalake

    key = (path, app_id)
    with _lock:
        known = _last_batch.get(key)
    if known is None:
        known = _find_last_commit(path, app_id)
        with _lock:
            _last_batch[key] = known
    if known[0] >= batch_id:
        return Commit(committed_at=known[1], skipped=True)
    write_deltalake(rs_uri(path), rows, mode="append", partition_by=list(partition_by) or None,
                    commit_properties=CommitProperties(custom_metadata={"userMetadata": _marker(app_id, batch_id)}))
    now = time.time()
    with _lock:
        _last_batch[key] = (batch_id, now)
    return Commit(committed_at=now, skipped=False)


def overwrite(rows: pa.Table, path: str) -> float:
    """Replace the whole Delta table at `path` with `rows` (idempotent); when it became visible."""
    from deltalake import write_deltalake

    write_deltalake(rs_uri(path), rows, mode="overwrite")
    return time.time()


def forget_commit_cache() -> None:
    """Drop what this process remembers of earlier commits (tests that simulate a restart use it)."""
    with _lock:
        _last_batch.clear()
