"""What a stream's checkpoint says about itself: its query id and each micro-batch's watermark.

Spark writes, before running batch N, `offsets/N` with the batch's trigger time and its event-time
watermark. Stateful operators of batch N drop input at or behind the watermark *of batch N-1* (Spark's
"watermark for late events"; N's own value only evicts state), which was measured here: a row between
the two watermarks still passes deduplication. foreachBatch writers therefore flag late rows with that
same value, so "late" in the tables means exactly "not seen by the stream's state". The query id names
the run for exactly-once commit markers: a new checkpoint is a new run. The state's layout (how the
stateful operators key and hold what they keep) is named in a file of the project's beside Spark's: Spark
resumes state of another layout without a word when its keys have the same types, and would then start
every pitcher afresh. Files are read through Hadoop's FileSystem, so s3a:// checkpoints work too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import SparkSession

from readiness_platform.domain.errors import ReadinessError
from readiness_platform.spark import hadoop_fs

LAYOUT_FILE = "readiness-state-layout"


class CheckpointLayoutError(ReadinessError):
    """A checkpoint whose state this code cannot read: made with another layout of the state."""


@dataclass(frozen=True)
class BatchInfo:
    """A micro-batch as Spark planned it."""

    batch_id: int
    watermark: datetime  # rows at or behind it are late: Spark's watermark for late events (epoch 0 at first)
    trigger_time: datetime


def _read_lines(spark: SparkSession, path: str, n: int) -> list[str]:
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    fs, hpath = hadoop_fs(spark, path)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(fs.open(hpath), "UTF-8"))
    try:
        return [line for line in (reader.readLine() for _ in range(n)) if line is not None]
    finally:
        reader.close()


_planned: dict[str, tuple[int, int]] = {}  # checkpoint -> (the last batch read, its batchWatermarkMs)


def batch_info(spark: SparkSession, checkpoint: str, batch_id: int) -> BatchInfo:
    """The planned watermark and trigger time of `batch_id` in the stream checkpointed at `checkpoint`.
    Batch N's offsets file, read for N, gives N + 1 its watermark for late events: kept, so a stream reads
    one file a micro-batch, not two (an offsets file is never rewritten)."""
    key = checkpoint.rstrip("/")
    meta = json.loads(_read_lines(spark, f"{key}/offsets/{batch_id}", 2)[1])
    late_ms = 0
    if batch_id > 0:
        held = _planned.get(key)
        late_ms = held[1] if held and held[0] == batch_id - 1 else \
            json.loads(_read_lines(spark, f"{key}/offsets/{batch_id - 1}", 2)[1]).get("batchWatermarkMs", 0)
    _planned[key] = (batch_id, meta.get("batchWatermarkMs", 0))
    return BatchInfo(
        batch_id=batch_id,
        watermark=datetime.fromtimestamp(late_ms / 1000, timezone.utc),
        trigger_time=datetime.fromtimestamp(meta["batchTimestampMs"] / 1000, timezone.utc),
    )


_query_ids: dict[str, str] = {}


def forget_checkpoint(checkpoint: str) -> None:
    """Drop what is cached of a checkpoint (its id, its last batch's watermark): a checkpoint deleted and
    created again at the same path is a new query."""
    _query_ids.pop(checkpoint.rstrip("/"), None)
    _planned.pop(checkpoint.rstrip("/"), None)


def query_id(spark: SparkSession, checkpoint: str) -> str:
    """The id Spark gave the query when this checkpoint was created; it survives restarts."""
    key = checkpoint.rstrip("/")
    if key not in _query_ids:
        _query_ids[key] = json.loads(_read_lines(spark, f"{key}/metadata", 1)[0])["id"]
    return _query_ids[key]


def claim_layout(spark: SparkSession, checkpoint: str, layout: str) -> None:
    """Name the state's layout in a new checkpoint; refuse one that holds state of another layout (one with
    micro-batches and no name was made before layouts were named: a key per pitcher)."""
    key = checkpoint.rstrip("/")
    fs, marker = hadoop_fs(spark, f"{key}/{LAYOUT_FILE}")
    if fs.exists(marker):
        found = _read_lines(spark, f"{key}/{LAYOUT_FILE}", 1)[0].strip()
    else:
        _, offsets = hadoop_fs(spark, f"{key}/offsets")  # the same file system
        if not (fs.exists(offsets) and fs.listStatus(offsets)):  # a new checkpoint: named
            out = fs.create(marker, True)
            try:
                out.write(layout.encode() + b"\n")
            finally:
                out.close()
            return
        found = "a key per pitcher (before layouts were named)"
    if found != layout:
        raise CheckpointLayoutError(
            f"the checkpoint {key} holds the pitchers' state as {found}; this version keeps it as {layout}. "
            "Spark would resume it without the pitchers' games in play. Start the stream on a new checkpoint "
            "(--checkpoint, or READINESS_CHECKPOINT_URI) - its Kafka offsets start from "
            "stream_starting_offsets - or run the version that made this one to the end of its games.")
