"""The v1 -> v2 cutover on the real corpus: evidence equal to a hand computation, gates that block a
switch, a recorded decision, and the rollback."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import psycopg
import pytest

from readiness_platform.defs.models.assets import CutoverConfig, RollbackConfig, rollback_to_v1, v2_cutover
from readiness_platform.definitions import build_definitions
from readiness_platform.deployments import active, history
from readiness_platform.model_registry import CHALLENGER, CHAMPION, Registry
from readiness_platform.resources import local_resources
from tests.defs.helpers import write_silver

pytestmark = [pytest.mark.spark, pytest.mark.services]


def _by_hand(scored: pd.DataFrame) -> dict:
    v1 = scored[scored["model_version"] == "v1"].set_index(["game_pk", "at_bat_number", "pitch_number"])
    v2 = scored[scored["model_version"] == "v2"].set_index(["game_pk", "at_bat_number", "pitch_number"])
    both = v1.join(v2[["readiness", "alert_level"]], rsuffix="_2", how="left")
    games = both.reset_index().groupby(["pitcher_id", "game_pk"]).agg(
        a1=("alert_level", lambda s: (s != "ok").any()), a2=("alert_level_2", lambda s: (s != "ok").any()))
    return {"pitches": len(v1), "coverage": both["readiness_2"].notna().mean(),
            "level_agreement": (both["alert_level"] == both["alert_level_2"]).mean(),
            "readiness_mae": (both["readiness"] - both["readiness_2"]).abs().mean(),
            "alert_rate_baseline": games["a1"].mean(), "alert_rate_candidate": games["a2"].mean()}


def _run(job, settings, config) -> dg.ExecuteInProcessResult:  # noqa: ANN001
    defs = build_definitions(settings)
    return defs.resolve_job_def(job.name).execute_in_process(run_config=config, raise_on_error=False)


def test_cutover_switches_when_the_gates_pass_and_rollback_returns(spark, settings, scored):
    write_silver(spark, settings, scored)
    with psycopg.connect(settings.database_url) as conn:
        start = active(conn).id or 0
    blocked = _run(v2_cutover, settings, dg.RunConfig(ops={"cutover_evidence": CutoverConfig(
        reason="test: a gate that cannot pass", max_alert_rate_increase=-1.0)}))
    checks = {e.check_name: e.passed for e in blocked.get_asset_check_evaluations()}
    assert checks["alert_rate_change"] is False and checks["coverage"] is True
    assert not blocked.asset_materializations_for_node("active_model_version")  # the blocking gate held
    with psycopg.connect(settings.database_url) as conn:
        assert (active(conn).id or 0) == start  # nothing switched, not even half
    registry = Registry(settings)
    # the blocked run registered v1 as the first champion and v2 as challenger, and moved nothing else
    assert registry.resolve(CHAMPION).scoring_version == "v1"
    assert registry.resolve(CHALLENGER).scoring_version == "v2"

    done = _run(v2_cutover, settings, dg.RunConfig(ops={"cutover_evidence": CutoverConfig(reason="test cutover")}))
    assert done.success
    assert all(e.passed for e in done.get_asset_check_evaluations())
    with psycopg.connect(settings.database_url) as conn:
        decision = active(conn)
    assert (decision.active_version, decision.action, decision.reason) == ("v2", "cutover", "test cutover")
    expected = _by_hand(scored)
    for name, value in expected.items():
        assert decision.evidence[name] == pytest.approx(value, abs=1e-9), name
    assert {g["name"] for g in decision.evidence["gates"]} == {"sample", "coverage", "score_agreement",
                                                               "alert_rate_change"}
    champion = registry.resolve(CHAMPION)
    assert champion.scoring_version == "v2" and champion.version == decision.evidence["registry"]["challenger"]
    tags = registry.client.get_model_version(registry.name, champion.version).tags
    assert tags["champion_reason"] == "test cutover" and tags["champion_by"].startswith("dagster run")

    back = rollback_to_v1.execute_in_process(
        run_config=dg.RunConfig(ops={"roll_back": RollbackConfig(reason="test: coach prefers v1")}),
        resources=local_resources(settings))
    assert back.success
    with psycopg.connect(settings.database_url) as conn:
        latest, switched = history(conn, 2)
    assert (latest.active_version, latest.previous_version, latest.action) == ("v1", "v2", "rollback")
    assert switched.id == decision.id and latest.id > decision.id
    assert registry.resolve(CHAMPION).version == tags["champion_replaced"]  # the v1 it replaced serves again
    assert registry.resolve(CHAMPION).scoring_version == "v1"


def test_v2n_goes_through_the_gates_against_the_v2_champion_and_back_in_one_step(spark, settings, scored):
    write_silver(spark, settings, scored)
    assert _run(v2_cutover, settings, dg.RunConfig(ops={"cutover_evidence": CutoverConfig(reason="test: v2")})).success
    done = _run(v2_cutover, settings, dg.RunConfig(ops={"cutover_evidence": CutoverConfig(
        baseline="v2", candidate="v2n", reason="test: readiness against the pitcher's own norms")}))
    assert done.success and all(e.passed for e in done.get_asset_check_evaluations())
    with psycopg.connect(settings.database_url) as conn:
        decision = active(conn)
    assert (decision.active_version, decision.evidence["baseline"]) == ("v2n", "v2")
    # the evidence a model owner reads: fewer pitcher-games alerting than under the champion it replaces
    assert decision.evidence["alert_rate_candidate"] < decision.evidence["alert_rate_baseline"]
    registry = Registry(settings)
    assert registry.resolve(CHAMPION).scoring_version == "v2n"
    back = rollback_to_v1.execute_in_process(
        run_config=dg.RunConfig(ops={"roll_back": RollbackConfig(to_version="v2", reason="test: back to v2")}),
        resources=local_resources(settings))
    assert back.success and registry.resolve(CHAMPION).scoring_version == "v2"
