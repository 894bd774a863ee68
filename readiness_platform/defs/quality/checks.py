"""Quality gates: the Great Expectations suites of `expectations/` as blocking asset checks.

Each check validates the table's current rows (the latest game date present, so a check reads a game
day, not a season) and records `feature_qa`, the share of expectations met; below 0.7 is critical.
"""


from datetime import datetime, timezone

import dagster as dg

from expectations.run import QualityReport, validate
from readiness_platform.resources import PlatformResource, SparkResource
from readiness_platform.settings import Tables


def _record(context: dg.AssetCheckExecutionContext, session, tables: Tables, table: str,  # noqa: ANN001
            report: QualityReport, scope: str) -> None:
    """Append the run's feature QA to Delta `feature_qa` (what the alerts' "feature QA < 0.7" reads)."""
    from readiness_platform.lakehouse import ensure_tables, table_specs

    ensure_tables(session, tables, ["feature_qa"])
    row = (datetime.now(timezone.utc), table, scope, report.feature_qa, report.level, report.success,
           [f.describe() for f in report.failures], context.run.run_id)
    session.createDataFrame([row], schema=table_specs()["feature_qa"].schema).write.format("delta") \
        .mode("append").save(tables.feature_qa)


def _report_result(report: QualityReport, scope: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=report.success,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.summary()[:2000],
        metadata={
            "feature_qa": report.feature_qa,
            "level": report.level,
            "expectations_evaluated": report.evaluated,
            "expectations_failed": len(report.failures),
            "scope": scope,
            "failures": dg.MetadataValue.md("\n".join(
                f"- `{f.expectation}` on `{f.column}`: {f.unexpected_count} rows, e.g. {f.sample[:3]}"
                for f in report.failures) or "none"),
        },
    )


def _latest_day(df):  # noqa: ANN001, ANN202 (DataFrame -> DataFrame, scope)
    from pyspark.sql import functions as F

    latest = df.agg(F.max("game_date")).first()[0]
    if latest is None:
        return df, "empty table"
    return df.where(F.col("game_date") == latest), f"game_date = {latest}"


def _gate(context: dg.AssetCheckExecutionContext, platform: PlatformResource, spark: SparkResource,
          table: str) -> dg.AssetCheckResult:
    from delta.tables import DeltaTable

    settings = platform.settings()
    session = spark.session(settings)
    path = settings.tables.path(table)
    if not DeltaTable.isDeltaTable(session, path):
        return dg.AssetCheckResult(passed=False, description=f"{path} does not exist yet: has the stream run?")
    df, scope = _latest_day(session.read.format("delta").load(path))
    report = validate(df, table)
    context.log.info(report.summary())
    _record(context, session, settings.tables, table, report, scope)
    return _report_result(report, scope)


@dg.asset_check(asset="pitches", blocking=True)
def pitches_suite(context: dg.AssetCheckExecutionContext, platform: PlatformResource,
                  spark: SparkResource) -> dg.AssetCheckResult:
    """Bronze pitches: unique keys, physical ranges (40-110 mph, 0-4000 rpm), null rates."""
    return _gate(context, platform, spark, "pitches")


@dg.asset_check(asset="pitch_features", blocking=True)
def pitch_features_suite(context: dg.AssetCheckExecutionContext, platform: PlatformResource,
                         spark: SparkResource) -> dg.AssetCheckResult:
    """Silver features: one row per pitch and version, indices in 0-100, calibration in 0.50-0.95."""
    return _gate(context, platform, spark, "pitch_features")


quality_checks = [pitches_suite, pitch_features_suite]

quality_gates = dg.define_asset_job(
    "quality_gates", selection=dg.AssetSelection.checks(*quality_checks),
    description="Run the Great Expectations suites on the latest game day of bronze and silver.",
)


@dg.schedule(job=quality_gates, cron_schedule="*/15 * * * *", execution_timezone="UTC")
def quality_gates_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every 15 minutes: the suites on the day's pitches and features (feature_qa in the check metadata)."""
    return dg.RunRequest(run_key=f"quality-{context.scheduled_execution_time:%Y%m%dT%H%M}",
                         tags={"reason": "scheduled quality gates"})
