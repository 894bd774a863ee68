"""Helpers of the Kafka tests: small real replays, flushes stamped once, a stream driven flush by flush."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from readiness_platform.kafka import admin_client
from readiness_platform.replay.feed import feed_items
from readiness_platform.replay.lag import Delivery, LagModel, plan_deliveries
from readiness_platform.replay.player import stamp_ingest_time
from readiness_platform.replay.sinks import FeedSink
from readiness_platform.replay.statcast import load_pitches
from readiness_platform.settings import REPO_ROOT, Settings
from tests.conftest import GAME_DAY

# Two real games of 2020-09-03 (Angels 263 pitches, Pirates 293): two keys, so more than one partition.
TWO_GAMES = (631368, 631112)


def small_plan(lag: LagModel, games: tuple[int, ...] = TWO_GAMES, environment_every_s: float = 120.0) -> list[Delivery]:
    """The replay of a few real games of the game day, with the replay's own lag model."""
    pitches = [p for p in load_pitches([GAME_DAY], seed=lag.seed) if p.game_pk in games]
    return plan_deliveries(feed_items(pitches, seed=lag.seed, environment_every_s=environment_every_s), lag)


def flushes(plan: list[Delivery], per_flush: int) -> list[list[str]]:
    """The plan in flushes of `per_flush` messages, each stamped with one ingest time, as the player does:
    the same lines can then go to both sinks."""
    out = []
    for i in range(0, len(plan), per_flush):
        now = datetime.now(timezone.utc)
        out.append([stamp_ingest_time(d.payload, now) for d in plan[i:i + per_flush]])
    return out


def drive(spark, settings: Settings, sink: FeedSink, batches: list[list[str]]) -> None:  # noqa: ANN001
    """Deliver the feed one flush at a time, each processed by the stream (started again from its
    checkpoint) before the next one is written: every flush is one micro-batch (plus any batch Spark runs
    to move the watermark on), whatever the source. The stream is stopped while a flush is written: a
    running Kafka source may plan a micro-batch halfway through a flush (a landing file appears whole)."""
    from spark_jobs.stream.main import start_stream

    for lines in batches:
        sink.write(lines)
        query = start_stream(spark, settings)
        try:
            query.processAllAvailable()
            assert query.exception() is None
        finally:
            query.stop()


def read_topic(settings: Settings, topic: str) -> list[tuple[int, str | None, str]]:
    """Every message a topic holds now: (partition, key, value), in offset order per partition."""
    admin = admin_client(settings)
    partitions = sorted(admin.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "readiness-tests",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out: list[tuple[int, str | None, str]] = []
        done: set[int] = set()
        while len(done) < len(ends):
            message = consumer.poll(10)
            assert message is not None, f"{topic}: no message in 10 s"
            if message.error():
                continue  # end of a partition (enable.partition.eof)
            key = message.key().decode() if message.key() is not None else None
            out.append((message.partition(), key, message.value().decode()))
            if message.offset() + 1 >= ends[message.partition()]:
                done.add(message.partition())
        return out
    finally:
        consumer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnBroker:
    """A Kafka broker of one test, run by scripts/services.sh on free ports with its data in a temporary
    folder: stopping and starting it disturbs no other test."""

    def __init__(self, folder: Path) -> None:
        port = free_port()
        self.servers = f"127.0.0.1:{port}"
        self.env = {**os.environ, "READINESS_KAFKA_PORT": str(port),
                    "READINESS_KAFKA_CONTROLLER_PORT": str(free_port()), "READINESS_KAFKA_DIR": str(folder)}

    def _services(self, action: str) -> str:
        done = subprocess.run(["bash", "scripts/services.sh", action, "kafka"], cwd=REPO_ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> str:
        return self._services("start")

    def stop(self) -> str:
        return self._services("stop")
