"""The v1 -> v2 cutover as assets: `cutover_evidence` compares the versions over a window, its blocking
checks gate the switch, `active_model_version` records the decision in PostgreSQL."""

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
    record = {**asdict(evidence), "alert_rate_change": evidence.alert_rate_change,
              "gates": [asdict(r) for r in results], "feature_qa": quality.feature_qa, "reason": config.reason}
    yield dg.Output(record, metadata={
        "pitches": evidence.pitches, "pitcher_games": evidence.pitcher_games, "window": evidence.window,
        "coverage": evidence.coverage, "level_agreement": evidence.level_agreement,
        "readiness_mae": evidence.readiness_mae, "readiness_corr": evidence.readiness_corr,
        f"alert_rate_{evidence.baseline}": evidence.alert_rate_baseline,
        f"alert_rate_{evidence.candidate}": evidence.alert_rate_candidate,
        "feature_qa": quality.feature_qa,
    })
    for r in results:
        yield dg.AssetCheckResult(check_name=r.name, passed=r.passed, description=r.text,
                                  metadata={"value": r.value, "threshold": r.threshold})
    yield dg.AssetCheckResult(check_name="feature_quality", passed=quality.success, description=quality.summary()[:2000],
                              metadata={"feature_qa": quality.feature_qa, "level": quality.level})


@dg.asset(group_name="models", kinds={"postgres"}, owners=["team:models"])
def active_model_version(context: dg.AssetExecutionContext, cutover_evidence: dict,
                         postgres: PostgresResource) -> dg.MaterializeResult:
    """The model version the read service serves, switched only when every cutover gate passed."""
    candidate = cutover_evidence["candidate"]
    with postgres.connect() as conn:
        decided = switch(conn, candidate, "cutover", f"dagster run {context.run_id}", cutover_evidence["reason"],
                         cutover_evidence)
    context.log.info(f"active model version: {decided.previous_version} -> {decided.active_version}")
    return dg.MaterializeResult(metadata={
        "active_version": decided.active_version, "previous_version": decided.previous_version,
        "decision_id": decided.id, "action": "cutover", "reason": decided.reason,
    })


v2_cutover = dg.define_asset_job(
    "v2_cutover", selection=[cutover_evidence, active_model_version],
    description="Compare v2 with v1 over a window; switch to v2 only if every gate passes.",
)


class RollbackConfig(dg.Config):
    to_version: str = "v1"
    reason: str


@dg.op(tags={"kind": "postgres"})
def roll_back(context: dg.OpExecutionContext, config: RollbackConfig, postgres: PostgresResource):  # noqa: ANN201
    """Return to `to_version` (v1), recording who and why."""
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
