"""Consumer lag from the checkpoint against the broker, late fraction per topic, and lost data failing loudly."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from confluent_kafka import TopicPartition
from deltalake import DeltaTable

from readiness_platform import cli
from readiness_platform.kafka import FeedDataLost, admin_client, consumer_lag, delete_topics, offsets
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.sinks import KafkaSink, route
from readiness_platform.settings import get_settings
from spark_jobs.stream.main import main as stream_main
from spark_jobs.stream.main import start_stream
from tests.kafka.kafka_helpers import TWO_GAMES, flushes, small_plan

pytestmark = [pytest.mark.spark, pytest.mark.services]


def end_offsets(settings) -> dict[tuple[str, int], int]:  # noqa: ANN001
    partitions = {t: list(range(settings.kafka_partitions)) for t in settings.kafka_topics.values()}
    return {tp: end for tp, (_, end) in offsets(settings, partitions).items()}


def consume_all(spark, settings) -> None:  # noqa: ANN001
    query = start_stream(spark, settings, available_now=True)
    try:
        query.awaitTermination(600)
        assert query.exception() is None
    finally:
        query.stop()


@pytest.fixture(scope="module")
def half_consumed(spark, tmp_path_factory):
    """One game's replay: the first part published and consumed (in micro-batches of 40 records, so the
    watermark moves and a message 45-60 min late is late), the rest published and not consumed yet.
    Shared by the module's tests, in file order: the lag is read first, then records are deleted."""
    home = tmp_path_factory.mktemp("lag")
    settings = get_settings(home=home).model_copy(update={
        "stream_source": "kafka", "kafka_topic_prefix": f"test.{uuid.uuid4().hex[:10]}", "publish_online": False,
        "kafka_max_offsets_per_trigger": 40})
    plan = small_plan(LagModel(seed=12, late_rate=0.05, malformed_rate=0.03, late_extra_s=(2700.0, 3600.0)),
                      games=(TWO_GAMES[1],))
    first, rest = plan[:260], plan[260:]
    sink = KafkaSink(settings)
    sink.write(flushes(first, len(first))[0])
    consume_all(spark, settings)
    consumed = end_offsets(settings)
    sink.write(flushes(rest, len(rest))[0])
    yield settings, first, rest, consumed
    delete_topics(settings)


def test_lag_is_what_the_broker_holds_past_the_checkpoint_and_late_fraction_is_per_topic(half_consumed, monkeypatch, capsys):
    settings, first, rest, consumed = half_consumed
    now = end_offsets(settings)
    report = consumer_lag(settings)
    assert report.position.committed_batch is not None
    for topic in report.topics:
        for p in topic.partitions:
            key = (topic.topic, p.partition)
            assert (p.committed, p.end_offset, p.lag, p.lost) == (consumed[key], now[key], now[key] - consumed[key], 0)
    assert report.lag == len(rest)
    assert {t.topic: t.lag for t in report.topics} == {
        settings.kafka_topics[kind]: n for kind, n in Counter(route(d.payload)[0] for d in rest).items()} | {
        t: 0 for kind, t in settings.kafka_topics.items() if kind not in {route(d.payload)[0] for d in rest}}

    # rows, late rows and quarantined messages per topic: what bronze and quarantine hold of each kind
    kinds = {"pitch": settings.tables.pitches, "environment": settings.tables.environment_readings,
             "calibration": settings.tables.calibration_events}
    by_topic = {t.kind: t for t in report.topics}
    for kind, path in kinds.items():
        late = DeltaTable(path).to_pyarrow_table(columns=["is_late"]).column(0).to_pylist()
        assert (by_topic[kind].rows, by_topic[kind].late) == (len(late), sum(late))
        damaged = sum(1 for d in first if d.corruption and route(d.payload)[0] == kind)
        assert by_topic[kind].quarantined == damaged
    assert by_topic["pitch"].late > 0, "the test must exercise late rows"
    assert by_topic["pitch"].late_fraction == by_topic["pitch"].late / by_topic["pitch"].rows

    # the command prints the same figures; --prometheus as gauges
    monkeypatch.setenv("READINESS_HOME", str(settings.home))
    monkeypatch.setenv("READINESS_KAFKA_TOPIC_PREFIX", settings.kafka_topic_prefix)
    cli.main(["kafka", "lag"])
    out = capsys.readouterr().out
    pitches = by_topic["pitch"]
    assert f"{pitches.topic:<32} {pitches.rows:>9} {pitches.late:>7} {pitches.late_fraction:>14.4f}" in out
    assert f"{'total':<32} {'':>9} {'':>9} {'':>9} {'':>9} {len(rest):>8} {0:>6}" in out
    cli.main(["kafka", "lag", "--prometheus"])
    gauges = capsys.readouterr().out
    for topic in report.topics:
        for p in topic.partitions:
            assert f'readiness_kafka_consumer_lag{{topic="{topic.topic}",partition="{p.partition}"}} {p.lag}\n' in gauges


def test_data_lost_to_retention_fails_the_stream_loudly_and_writes_nothing(half_consumed, monkeypatch):
    """Records the stream has not read are removed from the log - what retention does: the log start
    offset moves past them. The stream must stop with an error that says so, not skip them."""
    settings, first, rest, consumed = half_consumed
    topic = settings.kafka_topics["pitch"]
    (partition,) = {p for (t, p), end in end_offsets(settings).items() if t == topic and end > consumed[(t, p)]}
    cut = consumed[(topic, partition)] + 10
    admin = admin_client(settings)
    for future in admin.delete_records([TopicPartition(topic, partition, cut)]).values():
        future.result(timeout=10)

    report = consumer_lag(settings)
    assert report.lost == 10
    assert [(p.topic, p.partition, p.lost) for t in report.topics for p in t.partitions if p.lost] == \
        [(topic, partition, 10)]

    before = {name: DeltaTable(settings.tables.path(name)).to_pyarrow_table().num_rows
              for name in ("pitches", "environment_readings", "quarantine", "stream_metrics")}
    monkeypatch.setenv("READINESS_HOME", str(settings.home))
    monkeypatch.setenv("READINESS_KAFKA_TOPIC_PREFIX", settings.kafka_topic_prefix)
    monkeypatch.setenv("READINESS_PUBLISH_ONLINE", "false")
    with pytest.raises(FeedDataLost, match=rf"offset \[{consumed[(topic, partition)]}, .*{topic}-{partition}") as lost:
        stream_main(["--source", "kafka", "--available-now"])
    assert "readiness kafka lag" in str(lost.value)
    after = {name: DeltaTable(settings.tables.path(name)).to_pyarrow_table().num_rows for name in before}
    assert after == before  # the failed micro-batch wrote nothing
