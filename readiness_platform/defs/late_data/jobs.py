"""`late_reprocessing`: the pitches that landed behind the watermark, scored after all.

The stream lands a late pitch in bronze (flagged) but its pitcher state has moved on. This run
recomputes the affected games from bronze, late rows included, with the same domain functions, and
merges them into silver `pitch_features`: the late pitch gets its row and the pitches after it are
corrected. Its alerts are listed in the run, so a critical late pitch is never simply lost.
"""

import dagster as dg

from readiness_platform.resources import PlatformResource, SparkResource


class LateReprocessingConfig(dg.Config):
    """The stream batches whose late pitches to take in, as "app_id:batch_id" (the sensor fills it in)."""

    batches: list[str]
    reason: str = "requested by hand"


@dg.op(tags={"kind": "spark"})
def reprocess_late_pitches(context: dg.OpExecutionContext, config: LateReprocessingConfig,
                           platform: PlatformResource, spark: SparkResource):  # noqa: ANN201 (yields events)
    """Recompute the games of the late pitches and merge them into pitch_features."""
    from spark_jobs.recompute.main import reprocess_late

    batches = []
    for item in config.batches:
        app_id, _, batch_id = item.rpartition(":")
        if not app_id or not batch_id.isdigit():
            raise dg.Failure(f"batch {item!r} is not 'app_id:batch_id' (e.g. 'stream-1a2b:42')")
        batches.append((app_id, int(batch_id)))
    settings = platform.settings()
    done = reprocess_late(spark.session(settings), settings, batches)
    critical = [a for a in done.alerts if a["alert_level"] == "critical"]
    context.log.info(f"{done.late_pitches} late pitches of {done.pitchers} pitchers in {done.games} games; "
                     f"{done.rows_merged} rows merged; {len(critical)} critical")
    for a in critical:
        context.log.warning(f"late pitch at critical: pitcher {a['pitcher_id']} game {a['game_pk']} "
                            f"{a['at_bat_number']}/{a['pitch_number']} {a['model_version']} "
                            f"readiness {a['readiness']:.1f}: {'; '.join(a['alert_reasons'])}")
    table = "\n".join(
        f"| {a['pitcher_id']} | {a['game_pk']} | {a['at_bat_number']}-{a['pitch_number']} | {a['model_version']} "
        f"| {a['readiness']:.1f} | {a['alert_level']} | {'; '.join(a['alert_reasons'])} |" for a in done.alerts[:50])
    yield dg.AssetMaterialization(asset_key="pitch_features", description="late pitches merged", metadata={
        "late_pitches": done.late_pitches, "rows_merged": done.rows_merged, "reason": config.reason})
    yield dg.Output(done.late_pitches, metadata={
        "late_pitches": done.late_pitches,
        "pitchers": done.pitchers,
        "games": done.games,
        "rows_merged": done.rows_merged,
        "critical_rows": len(critical),
        "alerts": dg.MetadataValue.md(
            "| pitcher | game | pitch | version | readiness | level | why |\n|---|---|---|---|---|---|---|\n" + table
            if done.alerts else "no late pitch at warning or critical"),
    })


@dg.job(tags={"concept": "late_data"})
def late_reprocessing() -> None:
    """Score the pitches that landed after the watermark: recompute their games from bronze."""
    reprocess_late_pitches()
