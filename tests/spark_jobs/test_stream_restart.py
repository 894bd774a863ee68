"""Kill the stream with SIGKILL in the middle, start it again: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.settings import REPO_ROOT
from tests.conftest import GAME_DAY

pytestmark = pytest.mark.slow


def ingest_job(settings, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "READINESS_HOME": str(settings.home)}
    return subprocess.Popen(
        [sys.executable, "-m", "spark_jobs.stream.main", "--max-files-per-trigger", "1", *extra],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def committed_batches(path: str) -> int:
    try:
        return len(DeltaTable(path).to_pyarrow_table(columns=["batch_id"]))
    except Exception:  # noqa: BLE001 - the table does not exist until the job's first batch
        return 0


def test_sigkill_mid_stream_then_restart_lands_every_pitch_once(settings):
    plan = replay_plan([GAME_DAY], LagModel(seed=5))
    play(plan, LandingFolderSink(settings.landing), speedup=0, per_file=150, log=lambda _: None)
    files = len(list(Path(settings.landing).glob("*.jsonl")))

    job = ingest_job(settings)
    deadline = time.time() + 300
    while committed_batches(settings.tables.stream_metrics) < 6:
        assert job.poll() is None, job.stdout.read()
        assert time.time() < deadline, "the job committed too few batches in 5 min"
        time.sleep(0.2)
    time.sleep(random.Random(1).uniform(0.0, 1.0))  # land somewhere inside a micro-batch
    job.send_signal(signal.SIGKILL)
    job.wait()
    killed_at = committed_batches(settings.tables.stream_metrics)
    assert killed_at < files, "killed too late to prove anything"

    again = ingest_job(settings, "--available-now")
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out

    bronze = DeltaTable(settings.tables.pitches).to_pyarrow_table().to_pylist()
    keys = Counter((p["game_pk"], p["at_bat_number"], p["pitch_number"]) for p in bronze)
    assert len(keys) == 2507 and set(keys.values()) == {1}
    quarantine = DeltaTable(settings.tables.quarantine).to_pyarrow_table()
    assert quarantine.num_rows == sum(1 for d in plan if d.corruption)
    metrics = DeltaTable(settings.tables.stream_metrics).to_pyarrow_table().to_pylist()
    per_batch = Counter((m["app_id"], m["batch_id"]) for m in metrics)
    assert set(per_batch.values()) == {1}, "a batch recorded twice"
    assert sum(m["pitches_written"] for m in metrics) == 2507
    assert len({m["app_id"] for m in metrics}) == 1  # same checkpoint, same run id
    silver = DeltaTable(settings.tables.pitch_features).to_pyarrow_table(
        columns=["game_pk", "at_bat_number", "pitch_number", "model_version"]).to_pylist()
    per_pitch = Counter(tuple(r.values()) for r in silver)
    assert per_pitch and set(per_pitch.values()) == {1}, "a pitch's features written twice"
