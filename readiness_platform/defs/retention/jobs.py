"""`retention` (the schedule's time-based part) and `player_erasure` (one player's data, everywhere).

Both change the lakehouse, the online store and PostgreSQL through the same code as the CLI
(`readiness retention apply`, `readiness forget-player`): readiness_platform.retention and .erasure.
"""

from datetime import datetime, timezone

import dagster as dg

from readiness_platform.resources import PlatformResource, SparkResource


class RetentionConfig(dg.Config):
    """When the windows count back from (default: the run's start) and whether to only count."""

    as_of: str | None = None  # ISO 8601; e.g. "2020-09-04" to see what the demo's day would keep
    dry_run: bool = False


@dg.op(tags={"kind": "spark"})
def enforce_retention(context: dg.OpExecutionContext, config: RetentionConfig, platform: PlatformResource,
                      spark: SparkResource) -> dg.Output[int]:
    """Delete what is older than its window: Delta rows (then VACUUM), feed archive, reports, online store,
    old baselines and audit rows."""
    from readiness_platform.domain.errors import ReadinessError
    from readiness_platform.retention import apply_retention

    settings = platform.settings()
    as_of = datetime.fromisoformat(config.as_of) if config.as_of else None
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=timezone.utc)
    try:
        report = apply_retention(settings, as_of=as_of, dry_run=config.dry_run, spark=spark.session(settings),
                                 requested_by=f"dagster run {context.run_id}", log=context.log.info)
    except ReadinessError as e:
        raise dg.Failure(f"retention stopped: {e}") from e
    removed = sum(p.found if config.dry_run else p.deleted for p in report.places)
    return dg.Output(removed, metadata={
        "as_of": report.as_of.isoformat(),
        "dry_run": config.dry_run,
        "record_id": report.record_id or 0,
        **{p.place: f"{p.found} {p.unit} found, {p.deleted} deleted" for p in report.places},
    })


@dg.job(tags={"concept": "retention"})
def retention() -> None:
    """The retention schedule's time-based part (docs/data-lifecycle.md)."""
    enforce_retention()


class PlayerErasureConfig(dg.Config):
    """Who is erased, who asks and why; a real run needs the stream stopped (say so: stream_stopped)."""

    pitcher_id: int
    requested_by: str
    reason: str
    dry_run: bool = True  # the safe default: count first, then run again with dry_run false
    stream_stopped: bool = False


@dg.op(tags={"kind": "spark"})
def erase_player(context: dg.OpExecutionContext, config: PlayerErasureConfig, platform: PlatformResource,
                 spark: SparkResource) -> dg.Output[int]:
    """Delete one player's data everywhere the platform keeps it, Delta history and Dagster runs included."""
    from readiness_platform.domain.errors import ReadinessError
    from readiness_platform.erasure import forget_player

    if not config.dry_run and not config.stream_stopped:
        raise dg.Failure("stop the readiness stream first (it keeps gold in memory and would write the player "
                         "back; a zero-retention VACUUM is unsafe next to a writer), then run again with "
                         "stream_stopped: true")
    settings = platform.settings()
    try:
        report = forget_player(settings, config.pitcher_id, dry_run=config.dry_run, requested_by=config.requested_by,
                               reason=config.reason, spark=spark.session(settings), dagster_instance=context.instance,
                               exclude_runs=[context.run_id], log=context.log.info)
    except ReadinessError as e:
        raise dg.Failure(f"erasure of pitcher {config.pitcher_id} stopped: {e}") from e
    if not config.dry_run and report.left_to_delete:
        raise dg.Failure(f"{report.left_to_delete} records of pitcher {config.pitcher_id} were found and not deleted")
    return dg.Output(report.left_to_delete if config.dry_run else 0, metadata={
        "pitcher_id": config.pitcher_id,
        "dry_run": config.dry_run,
        "record_id": report.record_id or 0,
        "places": dg.MetadataValue.md("\n".join(
            ["| place | unit | found | deleted |", "|---|---|---|---|"]
            + [f"| {p.place} | {p.unit} | {p.found} | {'kept' if p.kept else p.deleted} |" for p in report.places])),
    })


@dg.job(tags={"concept": "retention"})
def player_erasure() -> None:
    """Erase one player (launch from the UI with the config; dry run by default)."""
    erase_player()
