"""The v1 -> v2 cutover as assets: `cutover_evidence` registers the candidate in MLflow as `challenger`
and compares it with the active version over a window; its blocking checks gate the switch;
`active_model_version` moves the `champion` alias to it and records the decision in PostgreSQL.
`rollback_to_v1` moves the alias back, recorded the same way."""

from dataclasses import asdict
from datetime import date

import dagster as dg

from readiness_platform.deployments import switch
from readiness_platform.domain.cutover import Gates, judge
from readiness_platform.resources import PlatformResource, PostgresResource, SparkResource

GATES = ("sample", "coverage", "score_agreement", "alert_rate_change", "feature_quality")


class CutoverConfig(dg.Config):
    """The versions compared, the window of game dates (ISO; open ends: all) and why."""

    baseline: str = "v1"
    candidate: str = "v2"
    start: str | None = None
    end: str | None = None
    reason: str = "planned cutover"
    min_coverage: float = Gates.min_coverage
    min_level_agreement: float = Gates.min_level_agreement
    max_readiness_mae: float = Gates.max_readiness_mae
    max_alert_rate_increase: float = Gates.max_alert_rate_increase


def _register(context: dg.AssetExecutionContext, settings, rows, config: CutoverConfig) -> dict:  # noqa: ANN001
    """The candidate as a new registered version (alias `challenger`), with back-test metrics on the window;
    the baseline registered and made `champion` first if the registry has none."""
    from readiness_platform.model_registry import (
        CHALLENGER,
        CHAMPION,
        ModelRegistryError,
        Registry,
        backtest_metrics,
        example_inputs,
    )

    scored = rows.where(rows.model_version.isin(config.baseline, config.candidate)).toPandas()
    registry = Registry(settings)
    by = f"dagster run {context.run_id}"
    try:
        champion = registry.resolve(CHAMPION)
    except ModelRegistryError:
        first = registry.register(config.baseline, backtest_metrics(scored, config.baseline, None),
                                  example_inputs(scored), by=by, reason="the version served before the registry")
        registry.promote(first.version, CHAMPION, by=by, reason="initial champion")
        champion = registry.resolve(CHAMPION)
    challenger = registry.register(config.candidate, backtest_metrics(scored, config.candidate, champion.scoring_version),
                                   example_inputs(scored), by=by, reason=config.reason)
    registry.promote(challenger.version, CHALLENGER, by=by, reason=config.reason)
    context.log.info(f"{registry.name}: champion version {champion.version} ({champion.scoring_version}), "
                     f"challenger version {challenger.version} ({challenger.scoring_version})")
    return {"model": registry.name, "champion": champion.version, "challenger": challenger.version}


@dg.asset(
    group_name="models", kinds={"spark", "delta"}, owners=["team:models"], deps=["pitch_features"],
    check_specs=[dg.AssetCheckSpec(name, asset="cutover_evidence", blocking=True) for name in GATES],
)
def cutover_evidence(context: dg.AssetExecutionContext, config: CutoverConfig, platform: PlatformResource,
                     spark: SparkResource):  # noqa: ANN201 (yields the output and the gates)
    """The candidate version against the active one over a window: coverage, agreement, alert rates."""
    from expectations.run import validate
    from readiness_platform.transforms.cutover import compare, window

    settings = platform.settings()
    features = spark.session(settings).read.format("delta").load(settings.tables.pitch_features)
    start = date.fromisoformat(config.start) if config.start else None
    end = date.fromisoformat(config.end) if config.end else None
    evidence = compare(features, config.baseline, config.candidate, start, end)
    gates = Gates(min_coverage=config.min_coverage, min_level_agreement=config.min_level_agreement,
                  max_readiness_mae=config.max_readiness_mae, max_alert_rate_increase=config.max_alert_rate_increase)
    results = judge(evidence, gates)
    quality = validate(window(features, start, end), "pitch_features")
    registered = _register(context, settings, window(features, start, end), config)
    record = {**asdict(evidence), "alert_rate_change": evidence.alert_rate_change,
              "gates": [asdict(r) for r in results], "feature_qa": quality.feature_qa, "reason": config.reason,
              "registry": registered}
    yield dg.Output(record, metadata={
        "pitches": evidence.pitches, "pitcher_games": evidence.pitcher_games, "window": evidence.window,
        "coverage": evidence.coverage, "level_agreement": evidence.level_agreement,
        "readiness_mae": evidence.readiness_mae, "readiness_corr": evidence.readiness_corr,
        f"alert_rate_{evidence.baseline}": evidence.alert_rate_baseline,
        f"alert_rate_{evidence.candidate}": evidence.alert_rate_candidate,
        "feature_qa": quality.feature_qa,
        "challenger": f"{registered['model']} version {registered['challenger']} ({config.candidate})",
    })
    for r in results:
        yield dg.AssetCheckResult(check_name=r.name, passed=r.passed, description=r.text,
                                  metadata={"value": r.value, "threshold": r.threshold})
    yield dg.AssetCheckResult(check_name="feature_quality", passed=quality.success, description=quality.summary()[:2000],
                              metadata={"feature_qa": quality.feature_qa, "level": quality.level})


@dg.asset(group_name="models", kinds={"mlflow", "postgres"}, owners=["team:models"])
def active_model_version(context: dg.AssetExecutionContext, cutover_evidence: dict, platform: PlatformResource,
                         postgres: PostgresResource) -> dg.MaterializeResult:
    """The model version the stream and the API serve (MLflow `champion`), moved only when every gate passed."""
    from readiness_platform.model_registry import CHAMPION, Registry

    candidate = cutover_evidence["candidate"]
    registered = cutover_evidence["registry"]
    Registry(platform.settings()).promote(registered["challenger"], CHAMPION, by=f"dagster run {context.run_id}",
                                          reason=cutover_evidence["reason"])
    with postgres.connect() as conn:
        decided = switch(conn, candidate, "cutover", f"dagster run {context.run_id}", cutover_evidence["reason"],
                         cutover_evidence)
    context.log.info(f"active model version: {decided.previous_version} -> {decided.active_version}")
    return dg.MaterializeResult(metadata={
        "active_version": decided.active_version, "previous_version": decided.previous_version,
        "decision_id": decided.id, "action": "cutover", "reason": decided.reason,
        "champion": f"{registered['model']} version {registered['challenger']}",
    })


v2_cutover = dg.define_asset_job(
    "v2_cutover", selection=[cutover_evidence, active_model_version],
    description="Compare v2 with v1 over a window; switch to v2 only if every gate passes.",
)


class RollbackConfig(dg.Config):
    to_version: str = "v1"
    reason: str


def _rollback_target(registry, to_version: str) -> str | None:  # noqa: ANN001
    """The registry version to serve again: the one the champion replaced, if it scores `to_version`; else the
    newest registered version of `to_version`; None if the registry holds none."""
    from readiness_platform.model_registry import CHAMPION, ModelRegistryError

    try:
        current = registry.resolve(CHAMPION)
        replaced = registry.client.get_model_version(registry.name, current.version).tags.get("champion_replaced")
    except ModelRegistryError:
        replaced = None
    candidates = [s for s in registry.versions() if s.scoring_version == to_version]
    if replaced and any(s.version == replaced for s in candidates):
        return replaced
    return candidates[-1].version if candidates else None


@dg.op(tags={"kind": "mlflow"})
def roll_back(context: dg.OpExecutionContext, config: RollbackConfig, platform: PlatformResource,
              postgres: PostgresResource):  # noqa: ANN201
    """Return to `to_version` (v1): the champion alias moved back, the decision recorded with who and why."""
    from readiness_platform.model_registry import CHAMPION, Registry

    registry = Registry(platform.settings())
    target = _rollback_target(registry, config.to_version)
    if target is not None:
        registry.promote(target, CHAMPION, by=f"dagster run {context.run_id}", reason=config.reason)
        context.log.info(f"{registry.name}@champion -> version {target} ({config.to_version})")
    with postgres.connect() as conn:
        decided = switch(conn, config.to_version, "rollback", f"dagster run {context.run_id}", config.reason,
                         {"reason": config.reason})
    context.log.info(f"rolled back: {decided.previous_version} -> {decided.active_version}")
    yield dg.AssetMaterialization(asset_key="active_model_version", metadata={
        "active_version": decided.active_version, "previous_version": decided.previous_version,
        "decision_id": decided.id, "action": "rollback", "reason": config.reason})
    yield dg.Output(decided.active_version)


@dg.job(tags={"concept": "models"})
def rollback_to_v1() -> None:
    """Serve v1 again: one recorded decision, effective at once."""
    roll_back()
