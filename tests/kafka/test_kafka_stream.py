"""The stream on the Kafka source: the same tables as the landing folder, a broker restart survived."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from readiness_platform.kafka import checkpoint_position
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.sinks import KafkaSink, LandingFolderSink
from spark_jobs.stream.main import start_stream
from tests.kafka.kafka_helpers import TWO_GAMES, drive, flushes, small_plan

pytestmark = [pytest.mark.spark, pytest.mark.services]

# Where a row came from and when it was written: the only columns two sources may differ in.
LINEAGE = {"source", "ingest_app_id", "quarantined_at", "updated_at", "committed_at"}
KEYS = {
    "pitches": ("game_pk", "at_bat_number", "pitch_number"),
    "environment_readings": ("tracking_system_id", "event_time"),
    "calibration_events": ("calibration_id",),
    "quarantine": ("payload", "ingest_batch_id"),
    "pitch_features": ("game_pk", "at_bat_number", "pitch_number", "model_version"),
    "pitcher_readiness": ("pitcher_id", "model_version"),
}
# stream_metrics: what each micro-batch counted (its timings differ from run to run)
COUNTS = ("batch_id", "rows_in", "pitches_in", "pitches_written", "duplicates_dropped", "quarantined",
          "late_rows", "late_pitches", "environment_rows", "calibration_rows", "watermark", "max_event_time",
          "features_emitted", "features_final")


def table(settings, name: str) -> list[dict]:  # noqa: ANN001
    rows = [{k: v for k, v in r.items() if k not in LINEAGE}
            for r in DeltaTable(settings.tables.path(name)).to_pyarrow_table().to_pylist()]
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in KEYS[name]))


def test_kafka_and_the_landing_folder_give_the_same_tables(spark, settings, kafka_settings, tmp_path):
    # Damage, duplicates and lateness well above the ballpark's rates; late messages an hour late, so
    # the watermark has passed them whatever the batch. Two flushes, a micro-batch each (the second runs
    # under the watermark of the first).
    plan = small_plan(LagModel(seed=8, duplicate_rate=0.05, malformed_rate=0.03, late_rate=0.03,
                               late_extra_s=(3600.0, 7200.0)))
    feed = flushes(plan, per_flush=len(plan) // 2 + 1)
    landing = settings.model_copy(update={"home": tmp_path / "landing-run", "publish_online": False})
    drive(spark, landing, LandingFolderSink(landing.landing), feed)
    drive(spark, kafka_settings, KafkaSink(kafka_settings), feed)

    pitches = table(kafka_settings, "pitches")
    assert len(pitches) == len({d.key for d in plan if d.kind == "pitch" and not d.corruption})
    assert any(p["is_late"] for p in pitches), "the test must exercise late rows"
    assert len(table(kafka_settings, "quarantine")) == sum(1 for d in plan if d.corruption)
    for name in KEYS:
        assert table(kafka_settings, name) == table(landing, name), name
    metrics = {}
    for run in (landing, kafka_settings):
        rows = DeltaTable(run.tables.stream_metrics).to_pyarrow_table().to_pylist()
        metrics[run.stream_source] = sorted(tuple(r[c] for c in COUNTS) for r in rows)
    assert metrics["kafka"] == metrics["landing"]
    assert len(metrics["kafka"]) >= len(feed)

    # lineage: every Kafka row names its topic, partition and offset
    sources = DeltaTable(kafka_settings.tables.pitches).to_pyarrow_table(columns=["source"]).column(0).to_pylist()
    topic = kafka_settings.kafka_topics["pitch"]
    assert all(s.startswith(f"kafka:{topic}/") for s in sources)
    assert len(set(sources)) == len(sources)
    landed = DeltaTable(landing.tables.pitches).to_pyarrow_table(columns=["source"]).column(0).to_pylist()
    assert Counter(Path(s).parent.name for s in landed) == {"landing": len(sources)}


def test_the_stream_survives_a_broker_restart_mid_stream(spark, kafka_settings, own_broker):
    """The broker goes down while micro-batches are running and while the replay is publishing, and
    comes back: the stream and the producer carry on, and every message lands once."""
    settings = kafka_settings.model_copy(update={"kafka_bootstrap_servers": own_broker.servers,
                                                 "kafka_max_offsets_per_trigger": 80})
    plan = small_plan(LagModel(seed=9), games=(TWO_GAMES[0],))
    first, second = flushes(plan[:300], 300), flushes(plan[300:], 1000)
    sink = KafkaSink(settings)
    sink.write(first[0])
    query = start_stream(spark, settings)
    try:
        deadline = time.time() + 300
        while len(committed(query)) < 2:  # the stream is busy: a batch of 80 after the other
            assert query.exception() is None and time.time() < deadline, query.exception()
            time.sleep(0.2)
        own_broker.stop()
        read = sum(checkpoint_position(f"{settings.checkpoints}/stream").planned.values())
        assert read < len(first[0]), "the broker must go down while records wait to be read"
        with ThreadPoolExecutor(max_workers=1) as pool:
            publishing = pool.submit(sink.write, second[0])  # waits for the broker
            time.sleep(5)  # the stream's triggers and the producer meet a broker that is down
            assert query.isActive, query.exception()
            own_broker.start()
            publishing.result(timeout=120)
        query.processAllAvailable()
        assert query.isActive and query.exception() is None
    finally:
        query.stop()

    bronze = DeltaTable(settings.tables.pitches).to_pyarrow_table(
        columns=["game_pk", "at_bat_number", "pitch_number"]).to_pylist()
    keys = Counter(tuple(r.values()) for r in bronze)
    assert len(keys) == len({d.key for d in plan if d.kind == "pitch" and not d.corruption})
    assert set(keys.values()) == {1}
    assert len(DeltaTable(settings.tables.quarantine).to_pyarrow_table()) == sum(1 for d in plan if d.corruption)
    rows_in = sum(r["rows_in"] for r in DeltaTable(settings.tables.stream_metrics).to_pyarrow_table().to_pylist())
    assert rows_in == len(plan)  # every message read once: nothing lost, nothing read twice


def committed(query) -> list[int]:  # noqa: ANN001
    return [p["batchId"] for p in query.recentProgress if p["numInputRows"]]
