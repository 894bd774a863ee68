"""Features and scores in the stream equal a batch recompute over the same bronze, on the real corpus."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import pytest
from deltalake import DeltaTable

from readiness_platform.domain.scores import MODEL_VERSIONS
from readiness_platform.lakehouse import ensure_tables
from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.replay.statcast import statcast_files
from readiness_platform.transforms.features import GROUP_KEYS, spark_hash
from spark_jobs.baselines.main import corpus_pitches, write_baselines
from spark_jobs.recompute.main import recompute
from tests.conftest import STATCAST_DIR
from tests.spark_jobs.stream_helpers import run_to_end

pytestmark = [pytest.mark.spark, pytest.mark.slow]
KEY = ("game_pk", "at_bat_number", "pitch_number", "model_version")


def same(a, b) -> bool:  # noqa: ANN001
    if isinstance(a, datetime) and isinstance(b, datetime):  # delta-rs: aware UTC; Spark here: naive UTC
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    if isinstance(a, float) or isinstance(b, float):
        return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-9))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def test_the_pitcher_groups_hash_as_spark_partitions_them(spark):
    from pyspark.sql import functions as F

    values = [*range(-3, 200), 592_789, 2**32 + 7, -(2**40), 2**63 - 1, *GROUP_KEYS]
    frame = spark.createDataFrame([(v,) for v in values], "v long").select("v", F.hash("v").alias("h"))
    assert {r["v"]: r["h"] for r in frame.collect()} == {v: spark_hash(v) for v in values}


def test_stream_final_rows_equal_the_batch_recompute_on_the_whole_corpus(spark, settings):
    ensure_tables(spark, settings.tables)
    write_baselines(spark, settings, corpus_pitches(spark, settings))
    # Every file, readings every 5 min (fewer messages; same rules), the ballpark's lag: deliveries overtake
    # each other within the watermark, some come twice, some late, some damaged.
    plan = replay_plan(statcast_files(STATCAST_DIR), LagModel(seed=21), environment_every_s=300.0)
    pitches = [d for d in plan if d.kind == "pitch" and not d.corruption and not d.duplicate]
    overtaken = sum(1 for a, b in zip(pitches, pitches[1:]) if b.event_time < a.event_time)
    assert overtaken > 200  # the test really exercises out-of-order arrival (327 with this seed)
    play(plan, LandingFolderSink(settings.landing), speedup=0, per_file=2500, log=lambda _: None)
    run_to_end(spark, settings, timeout_s=1800)

    silver = DeltaTable(settings.tables.pitch_features).to_pyarrow_table().to_pylist()
    stream = {tuple(r[k] for k in KEY): r for r in silver}
    assert len(stream) == len(silver), "a pitch finalized twice"
    batch = {tuple(r[k] for k in KEY): r for r in (x.asDict(recursive=True) for x in recompute(spark, settings).collect())}
    bronze = DeltaTable(settings.tables.pitches).to_pyarrow_table(columns=["is_late"]).to_pylist()
    on_time = sum(1 for r in bronze if not r["is_late"])
    assert len(batch) == len(MODEL_VERSIONS) * on_time
    assert stream.keys() == batch.keys()
    differences = Counter()
    for key, s in stream.items():
        b = batch[key]
        for column in b:
            if not same(s[column], b[column]):
                differences[column] += 1
    assert not differences, differences
    versions = Counter(k[-1] for k in stream)
    assert versions == {v: on_time for v in MODEL_VERSIONS}

    gold = DeltaTable(settings.tables.pitcher_readiness).to_pyarrow_table().to_pylist()
    assert {(g["pitcher_id"], g["model_version"]) for g in gold} == {(s["pitcher_id"], s["model_version"]) for s in silver}
    assert all(g["is_final"] for g in gold)  # the feed ends with readings past every pitch

    # the stream pushed every pitcher's latest row to the online store (local environment: SQLite)
    from readiness_platform.online import online_reader

    reader = online_reader(settings)
    for version in ("v1", "v2"):
        rows = {g["pitcher_id"]: g for g in gold if g["model_version"] == version}
        online = reader.read(version, sorted(rows))
        assert online.keys() == rows.keys()
        for pid, row in online.items():
            assert same(row.event_time, rows[pid]["event_time"])
            assert same(row.features["readiness"], rows[pid]["readiness"]) and row.features["is_final"] is True
