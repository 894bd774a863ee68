"""Kill the Kafka-fed stream with SIGKILL in the middle, start it again: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from deltalake import DeltaTable

from readiness_platform.kafka import checkpoint_position, consumer_lag
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import KafkaSink
from readiness_platform.settings import REPO_ROOT
from tests.kafka.kafka_helpers import TWO_GAMES, small_plan

pytestmark = [pytest.mark.slow, pytest.mark.services]


def ingest_job(settings, log, *extra: str) -> subprocess.Popen:  # noqa: ANN001
    env = {**os.environ, "READINESS_HOME": str(settings.home), "READINESS_STREAM_SOURCE": "kafka",
           "READINESS_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "READINESS_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix, "READINESS_PUBLISH_ONLINE": "false"}
    return subprocess.Popen([sys.executable, "-m", "spark_jobs.stream.main", "--max-offsets-per-trigger", "90", *extra],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def committed_batches(path: str) -> int:
    try:
        return len(DeltaTable(path).to_pyarrow_table(columns=["batch_id"]))
    except Exception:  # noqa: BLE001 - the table does not exist until the job's first batch
        return 0


def test_sigkill_mid_stream_then_restart_from_the_checkpoint_lands_every_message_once(kafka_settings, tmp_path):
    settings = kafka_settings
    plan = small_plan(LagModel(seed=5), games=(TWO_GAMES[1],))
    play(plan, KafkaSink(settings), speedup=0, per_file=200, log=lambda _: None)

    with open(tmp_path / "first.log", "w") as log:
        job = ingest_job(settings, log)
        deadline = time.time() + 300
        while committed_batches(settings.tables.stream_metrics) < 2:
            assert job.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.time() < deadline, "the job committed too few batches in 5 min"
            time.sleep(0.2)
        time.sleep(random.Random(2).uniform(0.0, 1.0))  # land somewhere inside a micro-batch
        job.send_signal(signal.SIGKILL)
        job.wait()
    killed_at = checkpoint_position(f"{settings.checkpoints}/stream")
    assert consumer_lag(settings).lag > 0, "killed too late to prove anything"

    with open(tmp_path / "again.log", "w") as log:
        again = ingest_job(settings, log, "--available-now")
        assert again.wait(timeout=600) == 0, (tmp_path / "again.log").read_text()[-3000:]

    bronze = DeltaTable(settings.tables.pitches).to_pyarrow_table().to_pylist()
    keys = Counter((p["game_pk"], p["at_bat_number"], p["pitch_number"]) for p in bronze)
    assert len(keys) == len({d.key for d in plan if d.kind == "pitch" and not d.corruption})
    assert set(keys.values()) == {1}
    assert DeltaTable(settings.tables.quarantine).to_pyarrow_table().num_rows == sum(1 for d in plan if d.corruption)
    metrics = DeltaTable(settings.tables.stream_metrics).to_pyarrow_table().to_pylist()
    per_batch = Counter((m["app_id"], m["batch_id"]) for m in metrics)
    assert set(per_batch.values()) == {1}, "a batch recorded twice"
    assert sum(m["rows_in"] for m in metrics) == len(plan)  # every message read once
    assert len({m["app_id"] for m in metrics}) == 1  # same checkpoint, same run id
    silver = DeltaTable(settings.tables.pitch_features).to_pyarrow_table(
        columns=["game_pk", "at_bat_number", "pitch_number", "model_version"]).to_pylist()
    per_pitch = Counter(tuple(r.values()) for r in silver)
    assert per_pitch and set(per_pitch.values()) == {1}, "a pitch's features written twice"

    # the restart went on from the checkpoint's offsets, and the lag is now nil
    after = consumer_lag(settings)
    assert after.position.committed_batch > (killed_at.committed_batch or 0)
    assert after.lag == 0 and after.lost == 0
