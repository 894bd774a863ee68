"""The readiness stream: the tracking feed -> bronze, features and readiness in Delta, exactly once.

    python -m spark_jobs.stream.main [--source landing|kafka] [--landing DIR] [--lakehouse URI] [--checkpoint URI]
                                     [--available-now]

The feed comes from the landing folder or from the Kafka topics (settings.stream_source,
READINESS_STREAM_SOURCE): both give the stream the same columns, so the same tables come out.

The event-time watermark is applied at exactly one point, `with_watermark` below (called by `branches`),
on the parsed feed; its delay comes from settings (READINESS_WATERMARK_DELAY_SECONDS, 7 s). Each
micro-batch reaches the writer (sinks.write_stream_batch) as three branches of the same messages (see
`branches`): every message, the first arrival of each valid event, and the feature rows the pitchers'
state emitted. Late rows (at or behind the watermark stateful operators drop by) are flagged and landed
in bronze, never dropped; the pitcher state does not see them (the late-data reprocessing does).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.errors import StreamingQueryException
from pyspark.sql.streaming import StreamingQuery

from readiness_platform.checkpoint import claim_layout, forget_checkpoint, verify_checkpoint
from readiness_platform.feature_store import OnlinePublisher, forget_stores
from readiness_platform.kafka import SOURCE_SCHEME, ensure_topics, stream_failure
from readiness_platform.lakehouse import ensure_tables
from readiness_platform.model_registry import ServedBy
from readiness_platform.settings import Settings, Tables, get_settings
from readiness_platform.spark import build_spark, session_conf
from readiness_platform.transforms.baselines import baselines_by_pitcher
from readiness_platform.transforms.contract import parse_feed
from readiness_platform.transforms.features import PITCH_NAMES, STATE_LAYOUTS, Baselines, pitcher_features
from readiness_platform.transforms.memory import tune_gc
from spark_jobs.stream.sinks import MetricsCommitter, forget_caches, write_stream_batch


def read_landing(spark: SparkSession, landing: str, max_files_per_trigger: int | None = None) -> DataFrame:
    """The landing folder as a stream of raw lines, each with the file it came from.

    Files the stream has committed are moved to `<landing>.archive/` (Spark's cleanSource), so each
    trigger lists only what is new, however long the stream runs, and the raw feed stays on disk.
    """
    Path(landing).mkdir(parents=True, exist_ok=True)
    archive = Path(f"{landing.rstrip('/')}.archive")
    archive.mkdir(parents=True, exist_ok=True)
    reader = (
        spark.readStream.format("text")
        .option("cleanSource", "archive")
        .option("sourceArchiveDir", str(archive))
    )
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", max_files_per_trigger)
    return reader.load(landing).select("value", F.col("_metadata.file_path").alias("source"))


def read_kafka(spark: SparkSession, settings: Settings) -> DataFrame:
    """The feed's Kafka topics as a stream of raw lines, each with the topic, partition and offset it came
    from - the same columns as `read_landing` (`value`, `source`).

    The offsets live in the checkpoint (a restart re-reads exactly the planned ranges, so the writers'
    commit markers make it exactly once). `failOnDataLoss`: a checkpoint pointing at records the broker
    no longer holds (retention, deleted records, a topic made again) stops the stream with an error instead
    of skipping them (main() names the fix); a message with no value is quarantined like any bad line.
    """
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", ",".join(settings.kafka_topics.values()))
        .option("startingOffsets", settings.kafka_starting_offsets)
        .option("failOnDataLoss", "true")
        # A fetch that finds less than it asked for waits up to fetch.max.wait.ms (500 ms by default) for
        # more: the tail of a micro-batch's read. Measured end to end at 25 x 100: p99 2.38 s at 500 ms,
        # 1.61 s at 10 ms. The ranges Spark reads are already on the broker, so nothing is worth waiting for.
        .option("kafka.fetch.max.wait.ms", "10")
    )
    if settings.kafka_max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", settings.kafka_max_offsets_per_trigger)
    return reader.load().select(
        F.coalesce(F.col("value").cast("string"), F.lit("")).alias("value"),
        F.concat(F.lit(SOURCE_SCHEME), F.col("topic"), F.lit("/"), F.col("partition"), F.lit("/"),
                 F.col("offset")).alias("source"),
    )


def read_source(spark: SparkSession, settings: Settings) -> DataFrame:
    """The feed from where settings.stream_source says: the landing folder or the Kafka topics."""
    if settings.stream_source == "kafka":
        ensure_topics(settings)  # idempotent: the stream may start before the first message is produced
        return read_kafka(spark, settings)
    return read_landing(spark, str(settings.landing), settings.max_files_per_trigger)


def with_watermark(events: DataFrame, delay_seconds: float) -> DataFrame:
    """THE watermark of the platform's streams: event time, delayed by settings.watermark_delay_seconds."""
    return events.withWatermark("event_time", f"{int(round(delay_seconds * 1000))} milliseconds")


def parsed_once(parsed: DataFrame) -> DataFrame:
    """The parsed feed behind one shuffle that every branch below reads, so that each line is parsed once.

    Each branch of a union is planned from its own scan: each parsed every line again (the parse is Python,
    ~50 us a line with its transfer). Spark reuses an exchange that appears the same in several places
    (ReusedExchange), but the optimizer pushes each branch's own filter and column pruning below the shuffle,
    which makes the exchanges differ. Two barriers keep them above it: `observe` (a CollectMetrics node,
    which filters do not cross; its `feed.messages` is the batch's message count in the query's progress),
    and `row_hash`, a hash of every parsed column, which each branch consumes (`all` carries it, `unique`
    keeps every column, `features` folds it into its `pitches.checksum` metric), so that no column can be
    pruned below. Before these, an identity mapInArrow was the barrier, at the cost of a Python round trip
    in each branch; measured against it, a near-empty micro-batch went from 0.72 to 0.47-0.53 s (Spark's
    trigger), one of ~1,100 messages at 1,000 events/s from 1.26-1.42 to 1.10 s."""
    keyed = parsed.repartition("event_key")
    return keyed.withColumn("row_hash", F.xxhash64(*keyed.columns)).observe(
        "feed", F.count(F.lit(1)).alias("messages"))


def branches(parsed: DataFrame, delay_seconds: float, baselines: Baselines | None = None,
             processor: str = "jvm") -> DataFrame:
    """Each message of a micro-batch, in up to three branches of one stream:
    `all`      - every message (its validity, kind and event time; the raw line when invalid), under the
                 event-time watermark (the one place it is applied): quarantine and the batch's counts are
                 read from this branch, and it is what moves the watermark on;
    `unique`   - the first arrival of each valid event key, kept by Spark's deduplication state. Built
                 before the watermark on purpose: with a watermark in its lineage, Spark's state would drop
                 late rows (measured: even plain dropDuplicates does), and late rows must land. Its state
                 keeps every key (~100 bytes each in RocksDB, about a million a season), so a checkpoint
                 serves one season; the next season starts a new one;
    `features` - (streams, given baselines) the pitchers' state: provisional and final feature rows of
                 on-time pitches (transforms.features), from the given state processor.
    """
    parsed = parsed_once(parsed)
    events = with_watermark(parsed, delay_seconds)
    valid = parsed.where("valid").drop("value")  # bronze keeps the typed record, not the raw line
    # (a batch DataFrame - a backfill, a test - has no state: plain deduplication is the same thing)
    unique = valid.dropDuplicates(["event_key"])
    # what the writer reads of every message: its validity, kind and time; the raw line only when invalid
    every = events.select(F.when(~F.col("valid"), F.col("value")).alias("value"), "source", "valid", "reason",
                          "kind", "event_time", "row_hash")
    out = every.withColumn("branch", F.lit("all")).unionByName(unique.withColumn("branch", F.lit("unique")),
                                                               allowMissingColumns=True)
    if baselines is not None and parsed.isStreaming:
        # checksum: an order-free digest of the pitches the state is given (and the row_hash barrier's use)
        pitches = events.where("valid and kind = 'pitch'").observe("pitches", F.bit_xor("row_hash").alias("checksum"))
        pitches = pitches.select(
            F.col("pitch.pitcher_id").alias("pitcher_id"),
            *[F.col(n) if n in ("event_time", "ingest_time") else F.col(f"pitch.{n}").alias(n) for n in PITCH_NAMES],
        )
        features = pitcher_features(pitches, baselines, processor).withColumn("branch", F.lit("features"))
        out = out.unionByName(features, allowMissingColumns=True)
    return out


def load_baselines(spark: SparkSession, tables: Tables) -> Baselines:
    """The seasonal baselines the stream compares against, read once at start."""
    return baselines_by_pitcher(spark.read.format("delta").load(tables.seasonal_baselines).collect())


def start_stream(
    spark: SparkSession,
    settings: Settings,
    raw: DataFrame | None = None,
    checkpoint: str | None = None,
    available_now: bool = False,
) -> ReadinessQuery:
    """Start the readiness stream from `raw` lines (default: settings.stream_source) into settings.tables."""
    tables = settings.tables
    ensure_tables(spark, tables)
    if raw is None:
        raw = read_source(spark, settings)
    baselines = load_baselines(spark, tables)
    checkpoint = checkpoint or f"{settings.checkpoints}/stream"
    # A checkpoint deleted and made again at this path is a new query with a new id: cached, the old id
    # would make the writers skip the new query's batches as "already committed" (seen in a benchmark).
    forget_checkpoint(checkpoint)
    verify_checkpoint(spark, checkpoint)  # a damaged one stops here, naming its file: no batch reading "0 in"
    claim_layout(spark, checkpoint, STATE_LAYOUTS[settings.state_processor])  # a checkpoint of another state layout is refused
    forget_caches()  # the writer's caches of Delta rows are rebuilt from the tables, as after a restart
    forget_stores()  # and the Feast store from its registry
    tune_gc()
    online = OnlinePublisher.start(settings) if settings.publish_online else None
    metrics = MetricsCommitter(checkpoint, tables)
    metrics.recover()  # the figures of micro-batches a stopped process had not committed yet
    writer = (
        branches(parse_feed(raw), settings.watermark_delay_seconds, baselines, settings.state_processor)
        .writeStream.queryName("readiness_stream")
        .foreachBatch(partial(write_stream_batch, tables=tables, checkpoint=checkpoint, baselines=baselines,
                              online=online, served_by=ServedBy(settings), metrics=metrics))
        .option("checkpointLocation", checkpoint)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    elif settings.trigger_interval_seconds > 0:
        writer = writer.trigger(processingTime=f"{settings.trigger_interval_seconds} seconds")
    with session_conf(raw.sparkSession, STREAM_CONF):
        return ReadinessQuery(writer.start(), online, metrics)


# SQL settings of the stream alone. A streaming query runs in a copy of its session, made when it starts, so
# these are set for the start and put back after it: other jobs of the session keep their own.
#  - Whole-stage code generation off: it generated and compiled each micro-batch's code again (the query
#    is planned anew every micro-batch), for rows a micro-batch has few of. Measured on the landing harness
#    at 2,000 events/s: Spark's trigger p50 617-744 ms against 716-785 ms with it, the time before the
#    writer runs 0.07 s against 0.09-0.10 s.
STREAM_CONF = {"spark.sql.codegen.wholeStage": "false"}


class ReadinessQuery:
    """The stream's StreamingQuery, whose waits include what its micro-batches finish in the background:
    the last online write (OnlinePublisher.submit) and the last `stream_metrics` row (MetricsCommitter).
    `processAllAvailable`, `awaitTermination` and `stop` return once they are done too - what Spark
    committed is then served and counted. Everything else is the StreamingQuery's own."""

    def __init__(self, query: StreamingQuery, online: OnlinePublisher | None,
                 metrics: MetricsCommitter | None = None) -> None:
        self.query = query
        self.online = online
        self.metrics = metrics

    def __getattr__(self, name: str):  # noqa: ANN204 - the StreamingQuery's attribute
        return getattr(self.query, name)

    def _written(self) -> None:
        if self.online is not None:
            self.online.wait()
        if self.metrics is not None:
            self.metrics.wait()

    def processAllAvailable(self) -> None:  # noqa: N802 - Spark's name
        self.query.processAllAvailable()
        self._written()

    def awaitTermination(self, timeout: float | None = None) -> bool | None:  # noqa: N802 - Spark's name
        ended = self.query.awaitTermination(timeout)
        if ended is not False:
            self._written()
        return ended

    def stop(self) -> None:
        self.query.stop()
        self._written()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("landing", "kafka"), help="the feed's source (default: settings)")
    parser.add_argument("--landing", type=Path, help="landing folder (default: settings)")
    parser.add_argument("--lakehouse", help="root URI of the Delta tables (default: settings)")
    parser.add_argument("--checkpoint", help="checkpoint URI (default: <checkpoints>/stream)")
    parser.add_argument("--available-now", action="store_true", help="process what is there, then stop")
    parser.add_argument("--max-files-per-trigger", type=int)
    parser.add_argument("--max-offsets-per-trigger", type=int, help="Kafka records per micro-batch, at most")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {}
    if args.source:
        overrides["stream_source"] = args.source
    if args.max_offsets_per_trigger:
        overrides["kafka_max_offsets_per_trigger"] = args.max_offsets_per_trigger
    if args.landing:
        overrides["landing_dir"] = args.landing
    if args.lakehouse:
        overrides["lakehouse_uri"] = args.lakehouse
    if args.max_files_per_trigger:
        overrides["max_files_per_trigger"] = args.max_files_per_trigger
    settings = get_settings(**overrides)
    spark = build_spark(settings, "readiness-stream")
    checkpoint = args.checkpoint or f"{settings.checkpoints}/stream"
    query = start_stream(spark, settings, checkpoint=checkpoint, available_now=args.available_now)
    try:
        query.awaitTermination()
    except StreamingQueryException as e:
        raise stream_failure(e, checkpoint) from e  # lost Kafka data: a ReadinessError that says what to do


if __name__ == "__main__":
    main()
