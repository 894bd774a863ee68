"""The stream follows the MLflow aliases without a restart, and stamps each score with the model version."""

from __future__ import annotations

import secrets
import time

import pytest
from deltalake import DeltaTable

from readiness_platform.model_registry import CHALLENGER, CHAMPION, Registry, backtest_metrics, example_inputs
from readiness_platform.settings import Settings
from tests.spark_jobs.stream_helpers import pitch_line, write_files

pytestmark = pytest.mark.spark


def _gold_stamps(settings: Settings) -> dict[str, str | None]:
    rows = DeltaTable(settings.tables.pitcher_readiness).to_pyarrow_table(
        columns=["model_version", "registered_model"]).to_pylist()
    return {r["model_version"]: r["registered_model"] for r in rows}


def test_the_stream_follows_the_aliases_and_stamps_every_score(spark, settings, scored):
    from spark_jobs.stream.main import start_stream

    settings = settings.model_copy(update={
        "model_name": f"readiness_{secrets.token_hex(4)}", "model_alias_ttl_seconds": 0.2,
        "max_files_per_trigger": 1, "publish_online": False})
    registry = Registry(settings)
    inputs = example_inputs(scored[scored["model_version"] == "v1"])
    v1 = registry.register("v1", backtest_metrics(scored, "v1", None), inputs, by="owner", reason="first").version
    v2 = registry.register("v2", backtest_metrics(scored, "v2", "v1"), inputs, by="owner", reason="candidate").version
    registry.promote(v1, CHAMPION, by="owner", reason="first model")
    registry.promote(v2, CHALLENGER, by="owner", reason="evaluate v2")
    name = registry.name

    query = start_stream(spark, settings)
    try:
        def phase(first_pitch: int) -> dict[str, str | None]:
            # one pitch 30 s after the last: every phase scores a new latest row per version in gold
            write_files(settings.landing, [[pitch_line(first_pitch, 30.0 * first_pitch)]])
            query.processAllAvailable()
            return _gold_stamps(settings)

        # v2n is scored beside them but registered by no one here: produced by no model
        assert phase(1) == {"v1": f"{name}/{v1}", "v2": f"{name}/{v2}", "v2n": None}

        registry.promote(v2, CHAMPION, by="owner", reason="gates passed")
        time.sleep(settings.model_alias_ttl_seconds + 0.1)  # the bound: an alias older than the ttl is re-read
        # v2 is champion and challenger; v1 is held by neither alias: scored side by side, produced by no model
        assert phase(2) == {"v1": None, "v2": f"{name}/{v2}", "v2n": None}

        registry.promote(v1, CHAMPION, by="owner", reason="rollback")
        time.sleep(settings.model_alias_ttl_seconds + 0.1)
        assert phase(3) == {"v1": f"{name}/{v1}", "v2": f"{name}/{v2}", "v2n": None}
        assert query.exception() is None
    finally:
        query.stop()

    # silver's final rows carry the model that was serving when each pitch was finalized
    silver = DeltaTable(settings.tables.pitch_features).to_pyarrow_table(
        columns=["pitch_number", "model_version", "registered_model"]).to_pylist()
    stamped = {(r["pitch_number"], r["model_version"]): r["registered_model"] for r in silver}
    assert stamped[(1, "v1")] is None and stamped[(1, "v2")] == f"{name}/{v2}"  # finalized in phase 2
    assert stamped[(2, "v1")] == f"{name}/{v1}"  # finalized in phase 3
