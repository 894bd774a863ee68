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

Before a stream starts on a checkpoint, `verify_checkpoint` reads what Spark's restart will read and
refuses, naming the file and what to do, a checkpoint that does not tell one story: commits missing
behind the latest offsets, offsets missing for a commit, a file Spark cannot parse, or a batch to re-run
whose landing files are gone. Spark would otherwise re-run a batch whose files the landing source had
already archived, read "0 in" and go on as if nothing were lost.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from readiness_platform.domain.errors import ReadinessError
from readiness_platform.spark import hadoop_fs

LAYOUT_FILE = "readiness-state-layout"


class CheckpointLayoutError(ReadinessError):
    """A checkpoint whose state this code cannot read: made with another layout of the state."""


class CheckpointDamagedError(ReadinessError):
    """A checkpoint file missing or unreadable where a restart needs it; the message names it and says what to do."""

    def __init__(self, path: str, problem: str, fix: str = "") -> None:
        fix = fix or (f"Restore the checkpoint folder from a backup, or start the stream on a new checkpoint "
                      f"(--checkpoint, or READINESS_CHECKPOINT_URI). Do not delete files from {_root(path)}: "
                      "Spark would re-run or skip micro-batches without a word.")
        super().__init__(f"{path}: {problem}. {fix}")
        self.path = path
        self.problem = problem
        self.fix = fix


def _root(path: str) -> str:
    """The checkpoint folder a file of it is in (offsets/, commits/, sources/<n>/ are its subfolders)."""
    parts = path.rstrip("/").split("/")
    for depth in (2, 3):
        if len(parts) > depth and parts[-depth] in ("offsets", "commits", "sources"):
            return "/".join(parts[:-depth])
    return "/".join(parts[:-1])


@dataclass(frozen=True)
class BatchInfo:
    """A micro-batch as Spark planned it."""

    batch_id: int
    watermark: datetime  # rows at or behind it are late: Spark's watermark for late events (epoch 0 at first)
    trigger_time: datetime


def _read_lines(spark: SparkSession, path: str, n: int | None) -> list[str]:
    """The first `n` lines of a file (all, for None); a file that is not there or cannot be read (a checksum
    that no longer matches what was written, say) is a CheckpointDamagedError naming it."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    fs, hpath = hadoop_fs(spark, path)
    lines: list[str] = []
    try:
        stream = fs.open(hpath)
        try:
            if n is None:  # one call, not one a line: a file source's compact log lists every file of a season
                return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")).splitlines()
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
            while len(lines) < n:
                line = reader.readLine()
                if line is None:
                    break
                lines.append(line)
        finally:
            stream.close()
    except Py4JJavaError as e:
        problem = str(e.java_exception.toString())[:300]
        raise CheckpointDamagedError(path, f"cannot be read ({problem})") from e
    return lines


_VERSION = re.compile(r"v\d+")


def _offsets_meta(path: str, lines: list[str]) -> dict:
    """The metadata line of an offsets file (Spark's OffsetSeq: version, metadata, one line per source)."""
    try:
        meta = json.loads(lines[1]) if len(lines) >= 2 and _VERSION.fullmatch(lines[0]) else None
    except ValueError:
        meta = None
    if not (isinstance(meta, dict) and isinstance(meta.get("batchTimestampMs"), int)
            and isinstance(meta.get("batchWatermarkMs", 0), int)):
        raise CheckpointDamagedError(path, "is not an offsets file Spark wrote (a version line, then the batch's "
                                           "watermark and trigger time)")
    return meta


def _offsets(spark: SparkSession, path: str) -> tuple[dict, list]:
    """(metadata, each source's offset or None) of an offsets file, every line of it checked."""
    lines = _read_lines(spark, path, None)
    meta = _offsets_meta(path, lines)
    sources: list = []
    for line in lines[2:]:
        try:
            sources.append(None if line == "-" else json.loads(line))
        except ValueError:
            raise CheckpointDamagedError(path, f"holds a source offset Spark cannot read ({line[:80]!r})") from None
    return meta, sources


_planned: dict[str, tuple[int, int]] = {}  # checkpoint -> (the last batch read, its batchWatermarkMs)


def batch_info(spark: SparkSession, checkpoint: str, batch_id: int) -> BatchInfo:
    """The planned watermark and trigger time of `batch_id` in the stream checkpointed at `checkpoint`.
    Batch N's offsets file, read for N, gives N + 1 its watermark for late events: kept, so a stream reads
    one file a micro-batch, not two (an offsets file is never rewritten)."""
    key = checkpoint.rstrip("/")
    path = f"{key}/offsets/{batch_id}"
    meta = _offsets_meta(path, _read_lines(spark, path, 2))
    late_ms = 0
    if batch_id > 0:
        held = _planned.get(key)
        before = f"{key}/offsets/{batch_id - 1}"
        late_ms = held[1] if held and held[0] == batch_id - 1 else \
            _offsets_meta(before, _read_lines(spark, before, 2)).get("batchWatermarkMs", 0)
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


def _batch_ids(spark: SparkSession, folder: str) -> list[int]:
    """The micro-batch ids of a checkpoint log folder (offsets, commits), ascending; [] when there is none."""
    fs, path = hadoop_fs(spark, folder)
    if not fs.exists(path):
        return []
    return sorted(int(name) for name in (s.getPath().getName() for s in fs.listStatus(path)) if name.isdigit())


def verify_checkpoint(spark: SparkSession, checkpoint: str) -> None:
    """Refuse to resume a checkpoint whose restart would lose or repeat data without a word.

    Spark resumes from the latest `offsets/N`: with `commits/N` there it plans batch N + 1, with only
    `commits/N-1` it runs batch N again, reading the offsets of N - 1 and N (and the file source's list of
    N's files). Anything else - commits missing behind the offsets, offsets missing behind a commit, one of
    those files unreadable, or a batch to run again whose files are gone - is a CheckpointDamagedError.
    A new checkpoint (no offsets, no commits) passes.
    """
    key = checkpoint.rstrip("/")
    offsets = _batch_ids(spark, f"{key}/offsets")
    commits = _batch_ids(spark, f"{key}/commits")
    if not offsets:
        if commits:
            raise CheckpointDamagedError(f"{key}/offsets/{commits[-1]}", f"is missing, and so is every offsets file, "
                                         f"while commits/{commits[-1]} says the batch was committed")
        return
    latest, committed = offsets[-1], (commits[-1] if commits else -1)
    if committed > latest:
        raise CheckpointDamagedError(f"{key}/offsets/{committed}", f"is missing while commits/{committed} says "
                                     f"the batch was committed (the latest offsets file is offsets/{latest})")
    if committed < latest - 1:
        raise CheckpointDamagedError(
            f"{key}/commits/{latest - 1}",
            f"is missing while offsets/{latest} is there: Spark plans a batch only once the one before it is "
            f"committed, and would run batch {latest} again over inputs it may already have moved away")
    if latest > 0 and latest - 1 not in offsets:
        raise CheckpointDamagedError(f"{key}/offsets/{latest - 1}", f"is missing: a restart reads it to resume "
                                     f"batch {latest}")
    _, planned = _offsets(spark, f"{key}/offsets/{latest}")
    _, before = _offsets(spark, f"{key}/offsets/{latest - 1}") if latest > 0 else ({}, [])
    if commits:
        lines = _read_lines(spark, f"{key}/commits/{committed}", 2)
        try:
            ok = len(lines) == 2 and _VERSION.fullmatch(lines[0]) and isinstance(json.loads(lines[1]), dict)
        except ValueError:
            ok = False
        if not ok:
            raise CheckpointDamagedError(f"{key}/commits/{committed}", "is not a commit file Spark wrote")
    if committed == latest - 1:
        _inputs_still_there(spark, key, latest, before, planned)


def _log_offset(source: object) -> int | None:
    return source.get("logOffset") if isinstance(source, dict) else None


def _inputs_still_there(spark: SparkSession, key: str, batch_id: int, before: list, planned: list) -> None:
    """The files the landing source (the stream's file source, `sources/0`) gave batch `batch_id`, which is
    about to run again, must still be where they were: the source moves a batch's files to its archive once
    the next batch is planned, so a gone file means the checkpoint lost the batches after this one."""
    ends = [o for o in map(_log_offset, planned) if o is not None]
    if not ends:
        return  # no file source (Kafka: its offsets are checked against the broker, failOnDataLoss)
    starts = [o for o in map(_log_offset, before) if o is not None]
    start, end = (max(starts) if starts else -1), max(ends)
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    folder = f"{key}/sources/0"
    fs, hfolder = hadoop_fs(spark, folder)
    names = {s.getPath().getName() for s in fs.listStatus(hfolder)} if fs.exists(hfolder) else set()
    compacted = sorted(int(n.removesuffix(".compact")) for n in names if n.endswith(".compact"))
    for log_batch in range(start + 1, end + 1):
        # its own file, or (once compacted, every 10 by default) the first compact file at or after it
        candidates = [str(log_batch)] + [f"{c}.compact" for c in compacted if c >= log_batch]
        found = next((n for n in candidates if n in names), None)
        if found is None:
            raise CheckpointDamagedError(f"{folder}/{log_batch}", f"is missing: it lists the files batch {batch_id} "
                                         "must read again")
        for line in _read_lines(spark, f"{folder}/{found}", None)[1:]:
            try:
                entry = json.loads(line)
                path, entry_batch = entry["path"], entry["batchId"]
            except (ValueError, KeyError, TypeError):
                raise CheckpointDamagedError(f"{folder}/{found}", f"holds a line Spark cannot read ({line[:80]!r})") from None
            if entry_batch != log_batch:
                continue
            file_path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(path))  # Spark logs URIs (%20 for a space)
            if not file_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(file_path):
                raise CheckpointDamagedError(
                    path,
                    f"is gone, and batch {batch_id} must run again over it (offsets/{batch_id} is in {key}, "
                    f"commits/{batch_id} is not; {folder}/{found} lists the file): the landing source archives a "
                    f"batch's files once the next batch is planned, so the checkpoint has lost the files of later "
                    f"batches and Spark would read nothing",
                    "Move the batch's files back from the landing folder's archive (<landing>.archive/ keeps each "
                    "file's full path) to where they were and start again: the batch runs again and the writers "
                    "skip what Delta already holds. Or restore the checkpoint folder from a backup.")
