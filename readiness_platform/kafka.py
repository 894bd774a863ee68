"""The feed on Kafka: its topics (created idempotently), the replay's producer, and the stream's consumer lag.

Topics (`settings.kafka_topics`): `<prefix>.pitches`, `<prefix>.environment`, `<prefix>.calibration`, one per
record kind, as a ballpark has one producer per system (tracking cameras, weather station, calibration rig).
Messages are keyed by game: a pitch by its `game_pk`, so one game's pitches stay in order in one partition;
a reading or a calibration by its `tracking_system_id` (a park's system serves one game at a time). The
stream does not need the order (features follow pitch order, not arrival), but a consumer of one game does.

Spark's Kafka source keeps its offsets in the stream's checkpoint, not in a consumer group: `offsets/N`
holds the offsets batch N reads up to (written before it runs), `commits/N` says it has committed. The lag
is the broker's end offset minus the offsets of the last committed batch; offsets the broker no longer
holds (retention, deleted records) are data lost, and the stream refuses to run past them
(`failOnDataLoss`): `stream_failure` turns Spark's error into a `FeedDataLost` that says what to do.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from readiness_platform.domain.errors import ReadinessError
from readiness_platform.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

TIMEOUT_S = 10.0
# librdkafka's own log (every failed connection attempt, 20 a second) goes to logging, not to stderr.
log = logging.getLogger("readiness.kafka")


class KafkaUnavailable(ReadinessError):
    """The brokers did not answer."""

    def __init__(self, servers: str, problem: str) -> None:
        super().__init__(f"Kafka at {servers} is not reachable ({problem}); start the local broker with "
                         "`bash scripts/services.sh start kafka`, or set READINESS_KAFKA_BOOTSTRAP_SERVERS")
        self.servers = servers


class TopicError(ReadinessError):
    """A topic could not be created or described."""


class DeliveryFailed(ReadinessError):
    """The broker did not acknowledge every message of a flush."""

    def __init__(self, failed: int, total: int, first: str) -> None:
        super().__init__(f"{failed} of {total} messages of a flush were not delivered to Kafka (first error: "
                         f"{first}); the replay stops at this flush")
        self.failed, self.total = failed, total


class FeedDataLost(ReadinessError):
    """The stream's checkpoint points at offsets Kafka no longer holds: records were never ingested."""

    def __init__(self, checkpoint: str, detail: str) -> None:
        super().__init__(
            f"the stream checkpointed at {checkpoint} must read Kafka records the broker no longer holds "
            f"(retention, deleted records or a re-created topic): {detail}. The micro-batch was not written. "
            "To go on, an operator accepts the loss: start a new checkpoint (--checkpoint) at the offsets the "
            "broker still holds (`readiness kafka lag` prints them as READINESS_KAFKA_STARTING_OFFSETS) and "
            "replay the lost window from the ballpark's archive into the topics")
        self.checkpoint = checkpoint


# --- clients -----------------------------------------------------------------------------------------

def admin_client(settings: Settings) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers, "socket.timeout.ms": 5000,
                        "logger": log})  # type: ignore[dict-item]  # the stubs leave out `logger`


def feed_producer(settings: Settings) -> Producer:
    """A producer for the feed: idempotent (a retry after a broker restart writes nothing twice), acks
    from every in-sync replica, and Java's key hashing, so any producer puts a game in the same partition."""
    from confluent_kafka import Producer

    return Producer({
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "message.timeout.ms": 120_000,  # a broker restart is survived; a broker gone for 2 min is an error
        "logger": log,
    })


def _result(future, servers: str):  # noqa: ANN001, ANN202 - a confluent-kafka future
    from confluent_kafka import KafkaException

    try:
        return future.result(timeout=TIMEOUT_S)
    except KafkaException as e:
        error = e.args[0]
        if error.code() in _unreachable_codes():
            raise KafkaUnavailable(servers, error.str()) from e
        raise
    except TimeoutError as e:
        raise KafkaUnavailable(servers, f"no answer in {TIMEOUT_S:.0f} s") from e


def _unreachable_codes() -> set[int]:
    from confluent_kafka import KafkaError

    return {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._RESOLVE}


def _moving_codes() -> set[int]:
    """Answers of a partition that has no leader yet (just created) or is changing leader (a broker restart)."""
    from confluent_kafka import KafkaError

    return {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError.REQUEST_TIMED_OUT}


def _metadata(admin: AdminClient, settings: Settings):  # noqa: ANN202 - confluent-kafka ClusterMetadata
    from confluent_kafka import KafkaException

    try:
        return admin.list_topics(timeout=TIMEOUT_S)
    except KafkaException as e:
        raise KafkaUnavailable(settings.kafka_bootstrap_servers, e.args[0].str()) from e


# --- topics ------------------------------------------------------------------------------------------

def _settle(admin: AdminClient, settings: Settings, topics: Collection[str], present: bool, doing: str) -> None:
    """Until the broker's metadata lists all of `topics` (present) or none of them: a topic's creation or
    deletion is acknowledged before every view of the cluster shows it (seen here: topics created right
    after their deletion was acknowledged, then missing from the metadata)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        listed = _metadata(admin, settings).topics
        waiting = [t for t in topics if (t in listed and not listed[t].error) != present]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TopicError(f"Kafka topics {', '.join(waiting)} still {'missing' if present else 'listed'} "
                             f"{TIMEOUT_S:.0f} s after {doing} them")
        time.sleep(0.1)


@dataclass(frozen=True)
class PartitionState:
    partition: int
    start_offset: int  # the oldest offset the broker still holds
    end_offset: int  # the offset the next message will get


@dataclass(frozen=True)
class TopicState:
    name: str
    kind: str
    partitions: list[PartitionState]
    created: bool = False  # by this call

    @property
    def messages(self) -> int:
        return sum(p.end_offset - p.start_offset for p in self.partitions)


def ensure_topics(settings: Settings) -> list[TopicState]:
    """Create the feed's topics that do not exist yet (settings.kafka_partitions, replication factor);
    existing topics are left as they are - more partitions would move games to other partitions."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    admin = admin_client(settings)
    existing = set(_metadata(admin, settings).topics)
    wanted = [t for t in settings.kafka_topics.values() if t not in existing]
    if wanted:
        futures = admin.create_topics(
            [NewTopic(t, num_partitions=settings.kafka_partitions, replication_factor=settings.kafka_replication_factor)
             for t in wanted], operation_timeout=TIMEOUT_S)
        for topic, future in futures.items():
            try:
                _result(future, settings.kafka_bootstrap_servers)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another process was first: fine
                    raise TopicError(f"could not create Kafka topic {topic}: {e.args[0].str()}") from e
        _settle(admin, settings, wanted, present=True, doing="creating")
    return describe_topics(settings, created=set(wanted), admin=admin)


def describe_topics(settings: Settings, created: Collection[str] = (), admin: AdminClient | None = None) -> list[TopicState]:
    """Each feed topic with its partitions' start and end offsets (a missing topic is an error)."""
    admin = admin or admin_client(settings)
    meta = _metadata(admin, settings)
    missing = [t for t in settings.kafka_topics.values() if t not in meta.topics]
    if missing:
        raise TopicError(f"Kafka topics {', '.join(missing)} do not exist; create them with "
                         "`readiness kafka topics` (idempotent)")
    bounds = offsets(settings, {t: sorted(meta.topics[t].partitions) for t in settings.kafka_topics.values()}, admin)
    return [
        TopicState(topic, kind, [PartitionState(p, *bounds[(topic, p)]) for p in sorted(meta.topics[topic].partitions)],
                   topic in created)
        for kind, topic in settings.kafka_topics.items()
    ]


def offsets(settings: Settings, partitions: dict[str, list[int]], admin: AdminClient | None = None) -> dict[tuple[str, int], tuple[int, int]]:
    """(start, end) offsets of each (topic, partition), as the broker holds them now."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    from confluent_kafka import KafkaException

    admin = admin or admin_client(settings)
    tps = [(t, p) for t, ps in partitions.items() for p in ps]
    if not tps:
        return {}
    out: dict[tuple[str, int], list[int]] = {tp: [0, 0] for tp in tps}
    deadline = time.monotonic() + TIMEOUT_S
    for i, spec in enumerate((OffsetSpec.earliest(), OffsetSpec.latest())):
        while True:
            try:
                futures = admin.list_offsets({TopicPartition(t, p): spec for t, p in tps}, request_timeout=TIMEOUT_S)
                for tp, future in futures.items():
                    out[(tp.topic, tp.partition)][i] = _result(future, settings.kafka_bootstrap_servers).offset
                break
            except KafkaException as e:
                # a partition just created, or moving after a broker restart, has no leader for a moment
                if not (e.args[0].retriable() or e.args[0].code() in _moving_codes()) or time.monotonic() > deadline:
                    raise TopicError(f"could not read Kafka offsets: {e.args[0].str()}") from e
                time.sleep(0.1)
    return {k: (v[0], v[1]) for k, v in out.items()}


def delete_topics(settings: Settings) -> None:
    """Delete the feed's topics (tests, and starting a season over); missing ones are ignored."""
    from confluent_kafka import KafkaError, KafkaException

    admin = admin_client(settings)
    present = [t for t in settings.kafka_topics.values() if t in _metadata(admin, settings).topics]
    for topic, future in (admin.delete_topics(present, operation_timeout=TIMEOUT_S) if present else {}).items():
        try:
            _result(future, settings.kafka_bootstrap_servers)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TopicError(f"could not delete Kafka topic {topic}: {e.args[0].str()}") from e
    _settle(admin, settings, present, present=False, doing="deleting")


# --- the stream's position: its checkpoint ------------------------------------------------------------

@dataclass(frozen=True)
class CheckpointPosition:
    """Where a stream's checkpoint stands in the topics."""

    checkpoint: str
    query_id: str | None  # the stream's run id (bronze rows carry `stream-<id>`); None: never started
    committed_batch: int | None  # the last micro-batch that committed; None: none yet
    committed: dict[tuple[str, int], int]  # the next offset to read per (topic, partition), after that batch
    planned_batch: int | None  # the newest batch planned (in flight when > committed_batch)
    planned: dict[tuple[str, int], int]


def _filesystem(uri: str):  # noqa: ANN202 - (pyarrow FileSystem, path)
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), str(Path(uri).resolve())
    return fs.FileSystem.from_uri(uri.replace("s3a://", "s3://", 1))


def _batches(filesystem, folder: str) -> list[int]:  # noqa: ANN001
    from pyarrow import fs

    infos = filesystem.get_file_info(fs.FileSelector(folder, allow_not_found=True))
    return sorted(int(i.base_name) for i in infos if i.base_name.isdigit())


def _read(filesystem, path: str) -> list[str]:  # noqa: ANN001
    with filesystem.open_input_stream(path) as fh:
        return fh.read().decode("utf-8").splitlines()


def _kafka_offsets(lines: list[str]) -> dict[tuple[str, int], int]:
    """The Kafka source's offsets in one `offsets/N` file: line 0 is the log version, line 1 the batch's
    metadata (watermark, trigger time), then one line per source: {"topic": {"partition": offset}}."""
    out: dict[tuple[str, int], int] = {}
    for line in lines[2:]:
        if not line.startswith("{"):
            continue  # a source with no offset yet ("-") or not Kafka
        for topic, parts in json.loads(line).items():
            if isinstance(parts, dict):
                out.update({(topic, int(p)): int(o) for p, o in parts.items()})
    return out


def checkpoint_position(checkpoint: str) -> CheckpointPosition:
    """Read the stream's Kafka offsets from its checkpoint (local path or s3a://... URI), without Spark."""
    filesystem, root = _filesystem(checkpoint)
    root = root.rstrip("/")
    try:
        query_id = json.loads(_read(filesystem, f"{root}/metadata")[0])["id"]
    except (FileNotFoundError, IndexError, KeyError, ValueError):
        query_id = None
    committed_ids = _batches(filesystem, f"{root}/commits")
    planned_ids = _batches(filesystem, f"{root}/offsets")
    committed_batch = committed_ids[-1] if committed_ids else None
    planned_batch = planned_ids[-1] if planned_ids else None
    committed = _kafka_offsets(_read(filesystem, f"{root}/offsets/{committed_batch}")) if committed_batch is not None else {}
    planned = _kafka_offsets(_read(filesystem, f"{root}/offsets/{planned_batch}")) if planned_batch is not None else {}
    return CheckpointPosition(checkpoint, query_id, committed_batch, committed, planned_batch, planned)


# --- lag -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    start_offset: int
    end_offset: int
    committed: int | None  # next offset the stream reads after its last committed batch; None: nothing yet

    @property
    def lag(self) -> int:
        """Records on the broker the stream has not committed (all it holds, before the first batch)."""
        return self.end_offset - (self.start_offset if self.committed is None else max(self.committed, self.start_offset))

    @property
    def lost(self) -> int:
        """Records the stream has not read that the broker no longer holds."""
        return 0 if self.committed is None else max(0, self.start_offset - self.committed)


@dataclass(frozen=True)
class TopicLag:
    topic: str
    kind: str
    partitions: list[PartitionLag]
    rows: int = 0  # valid new rows this stream landed in bronze from the topic
    late: int = 0  # of which late (behind the watermark)
    quarantined: int = 0  # messages of the topic that failed the contract

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def lost(self) -> int:
        return sum(p.lost for p in self.partitions)

    @property
    def late_fraction(self) -> float | None:
        return self.late / self.rows if self.rows else None


@dataclass(frozen=True)
class StreamLag:
    position: CheckpointPosition
    topics: list[TopicLag] = field(default_factory=list)

    @property
    def lag(self) -> int:
        return sum(t.lag for t in self.topics)

    @property
    def lost(self) -> int:
        return sum(t.lost for t in self.topics)


SOURCE_SCHEME = "kafka:"  # bronze and quarantine name a Kafka message's origin kafka:<topic>/<partition>/<offset>


def source_prefix(topic: str) -> str:
    """The start of the `source` of every row that came from `topic`."""
    return f"{SOURCE_SCHEME}{topic}/"


def _landed(settings: Settings, app_id: str | None) -> dict[str, tuple[int, int, int]]:
    """(rows, late, quarantined) per topic, from the Delta tables, for the stream run `app_id`."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    out = {t: [0, 0, 0] for t in settings.kafka_topics.values()}
    if app_id is None:
        return {t: (0, 0, 0) for t in out}
    tables = settings.tables
    for path, late_column in ((tables.pitches, "is_late"), (tables.environment_readings, "is_late"),
                              (tables.calibration_events, "is_late"), (tables.quarantine, None)):
        try:
            dataset = DeltaTable(path).to_pyarrow_dataset()
        except TableNotFoundError:
            continue
        columns = ["source"] + ([late_column] if late_column else [])
        data = dataset.to_table(columns=columns, filter=ds.field("ingest_app_id") == app_id)
        for topic, counts in out.items():
            mine = pc.fill_null(pc.starts_with(data["source"], source_prefix(topic)), False)
            if late_column:
                counts[0] += pc.sum(mine).as_py() or 0
                counts[1] += pc.sum(pc.and_(mine, pc.fill_null(data[late_column], False))).as_py() or 0
            else:
                counts[2] += pc.sum(mine).as_py() or 0
    return {t: (c[0], c[1], c[2]) for t, c in out.items()}


def consumer_lag(settings: Settings, checkpoint: str | None = None) -> StreamLag:
    """Per topic and partition: the broker's offsets against the stream's last committed batch, and what
    the stream landed from each topic (rows, late rows, quarantined messages) in this checkpoint's run."""
    checkpoint = checkpoint or f"{settings.checkpoints}/stream"
    position = checkpoint_position(checkpoint)
    topics = describe_topics(settings)
    landed = _landed(settings, f"stream-{position.query_id}" if position.query_id else None)
    out = []
    for t in topics:
        parts = [PartitionLag(t.name, p.partition, p.start_offset, p.end_offset,
                              position.committed.get((t.name, p.partition)) if position.committed_batch is not None else None)
                 for p in t.partitions]
        rows, late, quarantined = landed[t.name]
        out.append(TopicLag(t.name, t.kind, parts, rows, late, quarantined))
    return StreamLag(position, out)


def format_lag(report: StreamLag) -> str:
    """The lag report as the CLI prints it."""
    pos = report.position
    head = (f"stream checkpoint {pos.checkpoint}: "
            + ("no micro-batch committed yet" if pos.committed_batch is None
               else f"batch {pos.committed_batch} committed (run stream-{pos.query_id})")
            + (f", batch {pos.planned_batch} in flight" if pos.planned_batch not in (None, pos.committed_batch) else ""))
    lines = [head, f"{'topic':<32} {'partition':>9} {'start':>9} {'end':>9} {'committed':>9} {'lag':>8} {'lost':>6}"]
    for t in report.topics:
        for p in t.partitions:
            committed = "-" if p.committed is None else str(p.committed)
            lines.append(f"{t.topic:<32} {p.partition:>9} {p.start_offset:>9} {p.end_offset:>9} {committed:>9} "
                         f"{p.lag:>8} {p.lost:>6}")
    lines.append(f"{'total':<32} {'':>9} {'':>9} {'':>9} {'':>9} {report.lag:>8} {report.lost:>6}")
    lines.append("")
    lines.append(f"{'topic':<32} {'rows':>9} {'late':>7} {'late fraction':>14} {'quarantined':>12}")
    for t in report.topics:
        fraction = "-" if t.late_fraction is None else f"{t.late_fraction:.4f}"
        lines.append(f"{t.topic:<32} {t.rows:>9} {t.late:>7} {fraction:>14} {t.quarantined:>12}")
    if report.lost:
        lines.append(f"\nDATA LOST: {report.lost} records were removed from Kafka before the stream read them; "
                     "the stream refuses to go on from this checkpoint (failOnDataLoss). A new checkpoint "
                     "would start after the gap with:\n"
                     f"READINESS_KAFKA_STARTING_OFFSETS='{json.dumps(resume_offsets(report), separators=(',', ':'))}'")
    return "\n".join(lines)


def resume_offsets(report: StreamLag) -> dict[str, dict[str, int]]:
    """Spark startingOffsets that pick up where the stream stopped, or after a gap where records are lost."""
    out: dict[str, dict[str, int]] = {}
    for t in report.topics:
        for p in t.partitions:
            start = p.start_offset if p.committed is None else max(p.committed, p.start_offset)
            out.setdefault(t.topic, {})[str(p.partition)] = start
    return out


def format_prometheus(report: StreamLag) -> str:
    """The same figures in Prometheus' text format (for a node exporter's textfile collector)."""
    out = [
        "# HELP readiness_kafka_consumer_lag Records on the broker the stream has not committed.",
        "# TYPE readiness_kafka_consumer_lag gauge",
    ]
    for t in report.topics:
        for p in t.partitions:
            out.append(f'readiness_kafka_consumer_lag{{topic="{t.topic}",partition="{p.partition}"}} {p.lag}')
    out += ["# HELP readiness_kafka_records_lost Records removed from Kafka before the stream read them.",
            "# TYPE readiness_kafka_records_lost gauge"]
    for t in report.topics:
        for p in t.partitions:
            out.append(f'readiness_kafka_records_lost{{topic="{t.topic}",partition="{p.partition}"}} {p.lost}')
    out += ["# HELP readiness_feed_late_fraction Late share of the rows the stream landed from a topic.",
            "# TYPE readiness_feed_late_fraction gauge"]
    for t in report.topics:
        if t.late_fraction is not None:
            out.append(f'readiness_feed_late_fraction{{topic="{t.topic}"}} {t.late_fraction}')
    return "\n".join(out) + "\n"


# --- failures -------------------------------------------------------------------------------------------

_DATA_LOSS = re.compile(r"KAFKA_DATA_LOSS|data may have been (lost|missed)|failOnDataLoss", re.IGNORECASE)
_REASON = re.compile(r"Reason: ([^\n]+)")


def stream_failure(error: BaseException, checkpoint: str) -> BaseException:
    """Spark's error when the Kafka source stopped on lost data (failOnDataLoss) as a FeedDataLost that
    names the partition and offsets and says what to do; any other error unchanged."""
    text = str(error)
    found = _DATA_LOSS.search(text)
    if not found:
        return error
    # Spark says why after the data-loss sentence ("Reason: Could not read records in offset [a, b) for
    # topic partition t-p ..."); the foreachBatch wrapper has a "Reason:" of its own before it.
    reason = _REASON.search(text, found.start())
    line_start = text.rfind("\n", 0, found.start()) + 1
    detail = reason.group(1) if reason else text[line_start:].split("\n", 1)[0]
    return FeedDataLost(checkpoint, detail.strip().rstrip(".")[:400])
