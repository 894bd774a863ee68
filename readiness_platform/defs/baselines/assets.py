"""Seasonal baselines, one partition per season, written to Delta (analysts, the stream) and PostgreSQL
(the read service)."""


from datetime import datetime, timezone

import dagster as dg

from readiness_platform.baselines_store import replace_season
from readiness_platform.domain.baselines import MIN_PITCHES, SKIP_FIRST_PITCHES
from readiness_platform.resources import PlatformResource, PostgresResource, SparkResource

FIRST_SEASON = 2015  # the first Statcast season


def seasons() -> list[str]:
    return [str(y) for y in range(FIRST_SEASON, datetime.now(timezone.utc).year + 1)]


season_partitions = dg.StaticPartitionsDefinition(seasons())


@dg.asset(
    partitions_def=season_partitions,
    group_name="baselines",
    kinds={"spark", "delta", "postgres"},
    owners=["team:data-platform"],
    deps=["pitches"],
    code_version="1",
)
def seasonal_baselines(
    context: dg.AssetExecutionContext, platform: PlatformResource, spark: SparkResource, postgres: PostgresResource
) -> dg.MaterializeResult:
    """Per pitcher and pitch family: the season's velocity, spin, release height and break reference."""
    from pyspark.sql import functions as F

    from spark_jobs.baselines.main import season_pitches, write_baselines

    season = int(context.partition_key)
    settings = platform.settings()
    session = spark.session(settings)
    pitches = season_pitches(session, settings, season)
    n_pitches = pitches.count()
    context.log.info(f"season {season}: {n_pitches} pitches (bronze and the Statcast archive, deduplicated)")
    written = write_baselines(session, settings, pitches, [season])[season]
    rows = [r.asDict() for r in session.read.format("delta").load(settings.tables.seasonal_baselines)
            .where(F.col("season") == season).collect()]
    with postgres.connect() as conn:
        replace_season(conn, season, rows)
    families = sorted({r["pitch_family"] for r in rows})
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written,
        "pitches_read": n_pitches,
        "pitchers": len({r["pitcher_id"] for r in rows}),
        "families": ", ".join(families),
        "delta_table": dg.MetadataValue.path(settings.tables.seasonal_baselines),
        "postgres_table": "baselines",
        "rule": f"first {SKIP_FIRST_PITCHES} pitches of each game left out; at least {MIN_PITCHES} pitches per family",
    })


nightly_baselines = dg.define_asset_job("nightly_baselines", selection=[seasonal_baselines],
                                        partitions_def=season_partitions)


@dg.schedule(job=nightly_baselines, cron_schedule="0 4 * * *", execution_timezone="UTC")
def nightly_baselines_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every night at 04:00 UTC (after the last West Coast game): the current season's baselines."""
    season = str(context.scheduled_execution_time.year)
    return dg.RunRequest(run_key=f"baselines-{season}-{context.scheduled_execution_time:%Y%m%d}",
                         partition_key=season, tags={"reason": "nightly refresh of the current season"})
