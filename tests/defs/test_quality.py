"""The quality gates as Dagster asset checks: a clean day passes, a broken one fails naming the
expectation and the rows, and every run's feature QA is recorded."""

from __future__ import annotations

import dagster as dg
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from readiness_platform.definitions import build_definitions
from readiness_platform.lakehouse import table_specs
from spark_jobs.baselines.main import corpus_pitches
from tests.conftest import GAME_DAY
from tests.defs.helpers import write_silver

pytestmark = pytest.mark.spark


def _bronze(spark, settings) -> None:  # noqa: ANN001
    """The real 2020-09-03 game day as bronze (on time, one landing)."""
    schema = table_specs()["pitches"].schema
    pitches = corpus_pitches(spark, settings).where("game_date = '2020-09-03'").withColumns({
        "is_late": F.lit(False), "watermark": F.lit(None).cast("timestamp"), "source": F.lit(GAME_DAY.name),
        "ingest_app_id": F.lit("test"), "ingest_batch_id": F.lit(0).cast("long")})
    pitches.select(*schema.fieldNames()).write.format("delta").mode("overwrite").save(settings.tables.pitches)


def _gates(settings) -> dict[str, dg.AssetCheckEvaluation]:  # noqa: ANN001
    result = build_definitions(settings).resolve_job_def("quality_gates").execute_in_process(raise_on_error=False)
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


def test_gates_pass_on_real_data_and_fail_on_broken_rows(spark, settings, scored):
    _bronze(spark, settings)
    day = scored[scored["game_date"] == scored["game_date"].max()]
    write_silver(spark, settings, day)
    clean = _gates(settings)
    assert {k: e.passed for k, e in clean.items()} == {"pitches_suite": True, "pitch_features_suite": True}
    assert clean["pitch_features_suite"].metadata["feature_qa"].value == 1.0

    broken = day.copy()
    victim = broken.index[0]
    key = tuple(int(broken.loc[victim, k]) for k in ("game_pk", "at_bat_number", "pitch_number"))
    broken.loc[victim, "readiness"] = 120.0
    write_silver(spark, settings, broken)
    failed = _gates(settings)["pitch_features_suite"]
    assert failed.passed is False
    assert "expect_column_values_to_be_between" in failed.description and "readiness" in failed.description
    assert all(str(v) in failed.description for v in key)  # the rows are named
    evaluated = failed.metadata["expectations_evaluated"].value
    assert failed.metadata["feature_qa"].value == pytest.approx((evaluated - 1) / evaluated)

    recorded = DeltaTable(settings.tables.feature_qa).to_pandas().sort_values("checked_at")
    assert sorted(recorded["table"]) == ["pitch_features", "pitch_features", "pitches", "pitches"]
    last = recorded[recorded["table"] == "pitch_features"].iloc[-1]
    assert not last["success"] and last["feature_qa"] == pytest.approx((evaluated - 1) / evaluated)
