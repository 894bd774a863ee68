"""`online_features`: the online store filled and repaired from the lakehouse, behind the quality gates.

The stream pushes each pitcher's latest row as it is scored; this asset makes the store right whatever
happened in between (a failed push, a late pitch reprocessed into silver, a fresh Redis). Per pitcher and
model version it takes the newest row the lakehouse knows - gold's (the stream's latest, provisional or
final) or silver's (final, possibly reprocessed), the later pitch winning and, for the same pitch, silver -
and writes it unless the store already holds a later pitch. It runs in the `online_publication` job with
the Great Expectations suites as blocking checks: a failing suite and nothing is published.
"""

import dagster as dg

from readiness_platform.defs.quality.checks import quality_checks
from readiness_platform.resources import PlatformResource, SparkResource

ORDER = ("event_time", "game_pk", "at_bat_number", "pitch_number", "is_final")


def _order(r: dict) -> tuple:
    return tuple(r[k] for k in ORDER)


def lakehouse_latest(session, tables) -> list[dict]:  # noqa: ANN001
    """Per (pitcher, version): the newest row of gold and silver (silver on a tie: it may be repaired)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from feature_repo.feature_views import FEATURE_NAMES

    cols = ["pitcher_id", "model_version", "event_time", *FEATURE_NAMES]
    gold = session.read.format("delta").load(tables.pitcher_readiness).select(*cols).withColumn("src", F.lit(0))
    silver = session.read.format("delta").load(tables.pitch_features).select(*cols).withColumn("src", F.lit(1))
    w = Window.partitionBy("pitcher_id", "model_version").orderBy(*[F.col(c).desc() for c in (*ORDER, "src")])
    latest = gold.unionByName(silver).withColumn("_rank", F.row_number().over(w)).where("_rank = 1")
    return [r.asDict(recursive=True) for r in latest.drop("_rank", "src").collect()]


def to_publish(latest: list[dict], online: dict[tuple[int, str], dict]) -> tuple[list[dict], int]:
    """The rows to write (missing, older or different online) and how many were left (later pitch online)."""
    writes, newer_online = [], 0
    for r in latest:
        held = online.get((r["pitcher_id"], r["model_version"]))
        if held is not None and _order(held) > _order(r):
            newer_online += 1  # the stream got there with a later pitch: never step back
        elif held is None or _order(held) < _order(r) or any(held.get(k) != r.get(k) for k in held):
            writes.append(r)
    return writes, newer_online


@dg.asset(
    deps=["pitch_features", "pitcher_readiness"],
    group_name="serving",
    kinds={"feast", "redis"},
    owners=["team:data-platform"],
)
def online_features(context: dg.AssetExecutionContext, platform: PlatformResource,
                    spark: SparkResource) -> dg.MaterializeResult:
    """Each pitcher's latest readiness in the Feast online store, filled and repaired from Delta."""
    import redis

    from readiness_platform.feature_store import announce, apply_repo, write_online
    from readiness_platform.online import online_reader

    settings = platform.settings()
    session = spark.session(settings)
    try:
        apply_repo(settings)
        latest = lakehouse_latest(session, settings.tables)
        reader = online_reader(settings)
        online = {}
        for version in sorted({r["model_version"] for r in latest}):
            ids = sorted({r["pitcher_id"] for r in latest if r["model_version"] == version})
            for pid, row in reader.read(version, ids).items():
                online[(pid, version)] = {**row.features, "event_time": row.event_time.replace(tzinfo=None)}
        writes, newer_online = to_publish(latest, online)
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
        write_online(settings, writes, client)
        if latest:
            announce(client, latest)  # the roster lists every pitcher the store holds
    except (redis.RedisError, OSError) as e:
        raise dg.Failure(f"online store not reachable at {settings.redis_url.rsplit('@', 1)[-1]}: {e}") from e
    context.log.info(f"{len(writes)} rows written, {len(latest) - len(writes)} already current "
                     f"({newer_online} with a later pitch online)")
    return dg.MaterializeResult(metadata={
        "rows_written": len(writes),
        "rows_current": len(latest) - len(writes),
        "newer_online": newer_online,
        "pitchers": len({r["pitcher_id"] for r in latest}),
        "feast_env": settings.feast_env,
        "newest_event_time": str(max((r["event_time"] for r in latest), default=None)),
    })


online_publication = dg.define_asset_job(
    "online_publication",
    selection=dg.AssetSelection.checks(*quality_checks) | dg.AssetSelection.assets(online_features),
    description="Quality gates, then the online store repaired from the lakehouse (nothing if a suite fails).",
)


@dg.schedule(job=online_publication, cron_schedule="*/10 * * * *", execution_timezone="UTC")
def online_publication_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every 10 minutes: gate, then repair the online store."""
    return dg.RunRequest(run_key=f"publish-{context.scheduled_execution_time:%Y%m%dT%H%M}",
                         tags={"reason": "scheduled online publication"})
