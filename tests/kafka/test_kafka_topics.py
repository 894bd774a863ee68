"""The feed's topics on the project's broker: created once, each kind in its topic, a game in one partition."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from readiness_platform import kafka
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import KafkaSink, route
from tests.kafka.kafka_helpers import read_topic, small_plan


def test_route_sends_each_kind_to_its_topic_keyed_by_game_or_system():
    pitch = '{"kind":"pitch","schema_version":1,"game_pk":631368,"tracking_system_id":"angel_stadium"}'
    reading = '{"kind":"environment","event_time":"2020-09-03T23:00:00Z","tracking_system_id":"angel_stadium"}'
    assert route(pitch) == ("pitch", "631368")
    assert route(reading) == ("environment", "angel_stadium")
    assert route('{"kind":"calibration","calibration_id":"x","tracking_system_id":"pnc"}') == ("calibration", "pnc")
    # damaged messages go where their producer sent them; unreadable ones to the tracking cameras' topic
    assert route('{"kind":"pitch","schema_version":1,"game_pk":631368,"release_sp') == ("pitch", "631368")
    assert route("\x00\x17GARBLED 0a1b2c") == ("pitch", None)
    assert route('{"kind":"hit_tracking","game_pk":631112}') == ("pitch", "631112")


@pytest.mark.services
def test_topics_are_created_once_with_their_partitions(kafka_settings):
    settings = kafka_settings.model_copy(update={"kafka_partitions": 2})
    first = kafka.ensure_topics(settings)
    assert [(t.kind, t.name, t.created, len(t.partitions)) for t in first] == [
        ("pitch", f"{settings.kafka_topic_prefix}.pitches", True, 2),
        ("environment", f"{settings.kafka_topic_prefix}.environment", True, 2),
        ("calibration", f"{settings.kafka_topic_prefix}.calibration", True, 2),
    ]
    again = kafka.ensure_topics(settings.model_copy(update={"kafka_partitions": 5}))
    assert [(t.created, len(t.partitions)) for t in again] == [(False, 2)] * 3  # left as they are
    assert all(p.start_offset == p.end_offset == 0 for t in again for p in t.partitions)


@pytest.mark.services
def test_topics_deleted_then_created_at_once_are_there_and_empty(kafka_settings):
    """What a load test does to start afresh: the deletion and the creation are both settled on return
    (before, the creation could run while the deletion was still spreading, and the topics then vanished)."""
    kafka.ensure_topics(kafka_settings)
    play(small_plan(LagModel(seed=4))[:20], KafkaSink(kafka_settings), speedup=0, per_file=20, log=lambda _: None)
    topic = kafka_settings.kafka_topics["pitch"]
    assert read_topic(kafka_settings, topic)
    for _ in range(3):
        kafka.delete_topics(kafka_settings)
        with pytest.raises(kafka.TopicError, match="do not exist"):
            kafka.describe_topics(kafka_settings)
        states = kafka.ensure_topics(kafka_settings)
        assert all(t.created for t in states)
        assert all(p.start_offset == p.end_offset == 0 for t in kafka.describe_topics(kafka_settings)
                   for p in t.partitions)


@pytest.mark.services
def test_describing_missing_topics_names_the_command_that_creates_them(kafka_settings):
    with pytest.raises(kafka.TopicError, match="readiness kafka topics"):
        kafka.describe_topics(kafka_settings)


@pytest.mark.services
def test_an_unreachable_broker_is_an_error_that_names_the_fix(kafka_settings, monkeypatch):
    monkeypatch.setattr(kafka, "TIMEOUT_S", 1.0)
    nowhere = kafka_settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:9"})
    with pytest.raises(kafka.KafkaUnavailable, match="services.sh start kafka"):
        kafka.ensure_topics(nowhere)


@pytest.mark.services
def test_the_replay_publishes_each_message_once_to_its_kinds_topic_one_game_per_partition(kafka_settings):
    plan = small_plan(LagModel(seed=4))
    stats = play(plan, KafkaSink(kafka_settings), speedup=0, per_file=200, log=lambda _: None)
    assert stats.messages == len(plan)
    topics = kafka_settings.kafka_topics
    held = {kind: read_topic(kafka_settings, topic) for kind, topic in topics.items()}

    # every delivery, damaged copies and duplicates included, exactly once, with its ingest time stamped
    sent = Counter(d.payload for d in plan)
    got = Counter(v.split(',"ingest_time"')[0] + "}" if v.startswith("{") and v.endswith("}") else v
                  for messages in held.values() for _, _, v in messages)
    assert got == sent
    for kind, messages in held.items():
        for _, _, value in messages:
            assert route(value)[0] == kind
    assert Counter(k for k in held for _ in held[k]) == Counter(route(d.payload)[0] for d in plan)

    # one game, one partition, in delivery order (what a consumer of one game relies on)
    partitions = defaultdict(set)
    for partition, key, value in held["pitch"]:
        if key is not None:
            partitions[key].add(partition)
    assert set(partitions) == {"631368", "631112"} and all(len(p) == 1 for p in partitions.values())
    for game in partitions:
        in_topic = [v for _, k, v in held["pitch"] if k == game and v.startswith("{") and v.endswith("}")]
        delivered = [d.payload for d in plan if d.kind == "pitch" and route(d.payload)[1] == game
                     and d.payload.startswith("{") and d.payload.endswith("}")]
        assert [v.split(',"ingest_time"')[0] + "}" for v in in_topic] == delivered
    # a reading is keyed by its tracking system (a truncated copy by what its text still shows, or none)
    readable = [(k, json.loads(v)) for _, k, v in held["environment"] if v.startswith("{") and v.endswith("}")]
    assert readable and all(k == r.get("tracking_system_id") for k, r in readable)


def test_spark_data_loss_error_becomes_an_error_that_names_the_partition_and_the_fix():
    spark_says = (  # the shape of Spark 4.2's error (foreachBatch wrapper, then the Kafka source's own)
        "[STREAM_FAILED] Query [id = 6e11] terminated with exception: [FOREACH_BATCH_USER_FUNCTION_ERROR] An "
        "error occurred in the user provided function in foreach batch sink. Reason: An exception was raised by "
        "the Python Proxy. Return Message: Traceback (most recent call last):\n  File ...\n"
        ": org.apache.spark.sql.kafka010.KafkaIllegalStateException: Some data may have been lost because they "
        "are not available in Kafka any more;\neither the data was aged out by Kafka or the topic may have been "
        "deleted before all the data in the\ntopic was processed.\nIf you don't want your streaming query to fail "
        "on such cases, set the source option failOnDataLoss to false.\nReason: Could not read records in offset "
        "[119, 468) for topic partition readiness.pitches-2\nwith consumer group spark-kafka-source-a1-executor.\n")
    error = kafka.stream_failure(RuntimeError(spark_says), "var/checkpoints/stream")
    assert isinstance(error, kafka.FeedDataLost)
    assert "var/checkpoints/stream" in str(error)
    assert "Could not read records in offset [119, 468) for topic partition readiness.pitches-2." in str(error)
    assert "readiness kafka lag" in str(error)
    other = RuntimeError("[STREAM_FAILED] division by zero")
    assert kafka.stream_failure(other, "cp") is other
