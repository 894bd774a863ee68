"""Late data: pitches that land behind the watermark are scored after all by `late_reprocessing`,
exactly as a batch recompute with the late rows gives them."""

from __future__ import annotations

from collections import Counter

import dagster as dg
import pytest
from deltalake import DeltaTable

from readiness_platform.defs.late_data.jobs import late_reprocessing
from readiness_platform.defs.late_data.sensors import late_data_sensor
from readiness_platform.domain.scores import MODEL_VERSIONS
from readiness_platform.lakehouse import ensure_tables
from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.resources import PlatformResource, SparkResource
from spark_jobs.baselines.main import corpus_pitches, write_baselines
from spark_jobs.recompute.main import recompute
from tests.conftest import GAME_DAY
from tests.spark_jobs.stream_helpers import run_to_end
from tests.spark_jobs.test_stream_features import KEY, same

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def rows(path: str) -> list[dict]:
    return DeltaTable(path).to_pyarrow_table().to_pylist()


def test_late_pitches_are_reprocessed_into_silver(spark, settings):
    ensure_tables(spark, settings.tables)
    write_baselines(spark, settings, corpus_pitches(spark, settings), [2020])
    # 5 % of messages 1-2 h late: behind the watermark of the batch they land in (200 messages a batch)
    plan = replay_plan([GAME_DAY], LagModel(seed=5, late_rate=0.05, late_extra_s=(3600.0, 7200.0)))
    play(plan, LandingFolderSink(settings.landing), speedup=0, per_file=200, log=lambda _: None)
    run_to_end(spark, settings)
    bronze = rows(settings.tables.pitches)
    late = [p for p in bronze if p["is_late"]]
    assert len(late) > 20
    late_keys = {(p["game_pk"], p["at_bat_number"], p["pitch_number"]) for p in late}
    before = {tuple(r[k] for k in KEY) for r in rows(settings.tables.pitch_features)}
    assert not any(k[:3] in late_keys for k in before)  # the stream's state never scores a late pitch

    platform = PlatformResource(home=str(settings.home))
    result = late_data_sensor(dg.build_sensor_context(), platform=platform)
    (request,) = result.run_requests
    batches = request.run_config["ops"]["reprocess_late_pitches"]["config"]["batches"]
    assert sorted(batches) == sorted({f"{p['ingest_app_id']}:{p['ingest_batch_id']}" for p in late})
    run = late_reprocessing.execute_in_process(run_config=request.run_config, tags=request.tags,
                                               resources={"platform": platform, "spark": SparkResource()})
    assert run.success and run.output_for_node("reprocess_late_pitches") == len(late)

    silver = rows(settings.tables.pitch_features)
    by_key = {tuple(r[k] for k in KEY): r for r in silver}
    assert len(by_key) == len(silver)
    assert Counter(k[3] for k in by_key if k[:3] in late_keys) == {v: len(late) for v in MODEL_VERSIONS}
    # the affected games now hold what a batch recompute with the late rows gives, column for column
    games = {(p["pitcher_id"], p["game_pk"]) for p in late}
    expected = {tuple(r[k] for k in KEY): r for r in (
        x.asDict(recursive=True) for x in recompute(spark, settings, include_late=True).collect())
        if (r["pitcher_id"], r["game_pk"]) in games}
    assert expected and all(k in by_key for k in expected)
    wrong = Counter(c for k, r in expected.items() for c in r if not same(by_key[k][c], r[c]))
    assert not wrong, wrong
    # the same late batches are not asked for twice
    again = late_data_sensor(dg.build_sensor_context(cursor=result.cursor), platform=platform)
    assert not again.run_requests and again.skip_reason
