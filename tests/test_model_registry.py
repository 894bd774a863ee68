"""The readiness models in MLflow: logged with real back-test metrics, promoted by alias, followed by readers."""

from __future__ import annotations

import secrets
import time

import mlflow
import pandas as pd
import pytest

from readiness_platform.domain.scores import ScoreInputs, score
from readiness_platform.model_registry import (
    CHAMPION,
    CHALLENGER,
    INPUT_COLUMNS,
    AliasCache,
    Registry,
    SignatureMismatch,
    UnknownAlias,
    backtest_metrics,
    example_inputs,
    fluent,
    predict,
)
from readiness_platform.settings import get_settings


def _neutral(**overrides) -> dict:
    base = {f: None for f in INPUT_COLUMNS}
    base.update(velo_window_full=False, spin_window_full=False, release_window_full=False, pitch_count_game=0,
                pitches_last_3d=0, back_to_back=False, third_straight_day=False, calibration_confidence=0.95,
                late_fraction=0.0)
    return {**base, **overrides}


def test_the_model_scores_hand_worked_cases():
    rows = pd.DataFrame([_neutral(), _neutral(pitch_count_game=110), _neutral(back_to_back=True)])
    out = predict("v1", rows)
    # nothing abnormal: 100; 110 pitches: count component 1 -> fatigue 25, readiness 100 - 0.65 * 25
    # back-to-back: workload 0.5 -> fatigue 7.5, risk 5, readiness 100 - 0.65 * 7.5 - 0.35 * 5
    assert out["readiness"].tolist() == pytest.approx([100.0, 83.75, 93.375])
    assert out["fatigue"].tolist() == pytest.approx([0.0, 25.0, 7.5])


def _eventually(condition, timeout_s: float = 10.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _registry(tmp_path, **kw) -> Registry:  # noqa: ANN001
    return Registry(get_settings(home=tmp_path, model_name=f"readiness_{secrets.token_hex(4)}", **kw))


def _register_both(registry: Registry, scored: pd.DataFrame) -> dict[str, str]:
    inputs = example_inputs(scored[scored["model_version"] == "v1"])
    versions = {}
    for v, previous in (("v1", None), ("v2", "v1")):
        served = registry.register(v, backtest_metrics(scored, v, previous), inputs, by="test", reason="back-test")
        versions[v] = served.version
    return versions


def test_log_register_promote_and_roll_back_with_aliases(tmp_path, scored):
    registry = _registry(tmp_path)
    versions = _register_both(registry, scored)
    assert versions == {"v1": "1", "v2": "2"}
    run = mlflow.MlflowClient(registry.settings.mlflow_uri).get_run(
        registry.client.get_model_version(registry.name, "2").run_id)
    # the metrics are the corpus's: pitcher-games with an alert, as counted here by hand
    v2 = scored[scored["model_version"] == "v2"]
    by_hand = v2.groupby(["pitcher_id", "game_pk"])["alert_level"].agg(lambda a: (a != "ok").any()).mean()
    assert run.data.metrics["alert_rate_per_game"] == pytest.approx(by_hand)
    # every alerting pitcher-game opens at least one episode, and no episode opens without an alerting pitch
    alerting_pitches = (v2["alert_level"] != "ok").sum() / v2.groupby(["pitcher_id", "game_pk"]).ngroups
    assert by_hand <= run.data.metrics["alert_episodes_per_pitcher_game"] <= alerting_pitches
    assert run.data.metrics["coverage"] == 1.0 and 0 < run.data.metrics["agreement_with_previous"] <= 1
    assert run.data.metrics["latency_per_pitch_ms"] > 0 and run.data.params["feature_service"] == "readiness_v2"

    with pytest.raises(UnknownAlias, match="no alias 'champion'"):
        registry.resolve(CHAMPION)
    registry.promote(versions["v1"], CHAMPION, by="owner", reason="first model")
    registry.promote(versions["v2"], CHALLENGER, by="owner", reason="evaluate v2")
    assert registry.resolve(CHAMPION).scoring_version == "v1"
    replaced = registry.promote(versions["v2"], CHAMPION, by="owner", reason="gates passed")
    assert replaced.version == versions["v1"] and registry.resolve(CHAMPION).scoring_version == "v2"
    tags = registry.client.get_model_version(registry.name, versions["v2"]).tags
    assert tags["champion_by"] == "owner" and tags["champion_reason"] == "gates passed" and tags["champion_replaced"] == "1"
    registry.promote(tags["champion_replaced"], CHAMPION, by="owner", reason="rollback")  # the rollback: one call
    assert registry.resolve(CHAMPION).version == versions["v1"]

    # the registered model loads and scores as the domain does
    model = mlflow.pyfunc.load_model(f"models:/{registry.name}@{CHAMPION}")
    real = example_inputs(v2, n=200)
    got = model.predict(real)
    want = [score(ScoreInputs(**{k: (None if pd.isna(v) else v) for k, v in r.items()}), "v1").readiness
            for r in real.to_dict("records")]
    assert got["readiness"].tolist() == pytest.approx(want)


def test_readers_follow_the_alias_and_keep_the_champion_on_a_bad_model(tmp_path, scored):
    registry = _registry(tmp_path, model_alias_ttl_seconds=0.01)
    cache = AliasCache(registry.settings)
    assert cache.get() is None and "no alias" in cache.error  # nothing promoted yet
    versions = _register_both(registry, scored)
    registry.promote(versions["v1"], CHAMPION, by="t", reason="r")
    assert _eventually(lambda: cache.get() is not None and cache.get().scoring_version == "v1")
    registry.promote(versions["v2"], CHAMPION, by="t", reason="r")
    assert _eventually(lambda: cache.get().version == versions["v2"]) and cache.error is None

    # a model whose inputs are not the feature service's: refused by promote, and if pointed at anyway,
    # readers keep the champion they had
    class Other(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
            return model_input
    with fluent(registry.settings.mlflow_uri), mlflow.start_run():
        bad = mlflow.pyfunc.log_model(name="model", python_model=Other(), input_example=pd.DataFrame({"x": [1.0]}),
                                      registered_model_name=registry.name)
    bad_version = str(bad.registered_model_version)
    for k, v in {"scoring_version": "v2", "feature_service": "readiness_v2"}.items():
        registry.client.set_model_version_tag(registry.name, bad_version, k, v)
    with pytest.raises(SignatureMismatch, match="inputs are"):
        registry.promote(bad_version, CHAMPION, by="t", reason="r")
    registry.client.set_registered_model_alias(registry.name, CHAMPION, bad_version)  # behind the platform's back
    assert _eventually(lambda: cache.get() is not None and "cannot be served" in (cache.error or ""))
    assert cache.get().version == versions["v2"]


@pytest.mark.services
def test_the_registry_on_the_real_postgresql(tmp_path, scored):
    url = get_settings().database_url.replace("postgresql://", "postgresql+psycopg2://").rsplit("/", 1)[0] + "/mlflow"
    registry = _registry(tmp_path, mlflow_tracking_uri=url)
    versions = _register_both(registry, scored)
    registry.promote(versions["v2"], CHAMPION, by="t", reason="on postgres")
    assert registry.resolve(CHAMPION).scoring_version == "v2"
    assert [s.scoring_version for s in registry.versions()] == ["v1", "v2"]


def test_models_cli_lists_promotes_and_rolls_back(tmp_path, scored, monkeypatch, capsys):
    from readiness_platform.cli import main

    registry = _registry(tmp_path)
    monkeypatch.setenv("READINESS_HOME", str(tmp_path))
    monkeypatch.setenv("READINESS_MODEL_NAME", registry.name)
    versions = _register_both(registry, scored)

    main(["models", "promote", versions["v1"], "--reason", "first model", "--by", "owner"])
    main(["models", "promote", versions["v2"], "--reason", "gates passed", "--by", "owner"])
    assert registry.resolve(CHAMPION).version == versions["v2"]
    main(["models", "list"])
    listing = capsys.readouterr().out
    v2_line = next(line for line in listing.splitlines() if line.split()[:2] == [versions["v2"], "v2"])
    assert "champion" in v2_line and "alert_rate_per_game" in v2_line

    main(["models", "rollback", "--reason", "v2 alerts too often", "--by", "owner"])
    assert registry.resolve(CHAMPION).version == versions["v1"]
    tags = registry.client.get_model_version(registry.name, versions["v1"]).tags
    assert (tags["champion_by"], tags["champion_reason"]) == ("owner", "v2 alerts too often")

    with pytest.raises(SystemExit) as refused:  # v1 replaced nothing: a clear error, not a traceback
        main(["models", "rollback", "--reason", "again"])
    assert refused.value.code == 2 and "nothing to roll back to" in capsys.readouterr().err
