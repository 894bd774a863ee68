"""Batch recompute: every pitch's features, indices and alerts from bronze, as the stream computes them.

    python -m spark_jobs.recompute.main [--include-late] [--pitcher ID ...] [--write]

What the stream's final rows must equal: on-time pitches (bronze `is_late = false`), on-time readings and
calibrations, the same seasonal baselines, the same domain functions. `--include-late` also takes the late
rows - what the late-data reprocessing publishes once late pitches have landed. `--write` replaces the
recomputed pitchers' rows in silver `pitch_features` (a MERGE on pitch key and model version).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from readiness_platform.lakehouse import table_specs
from readiness_platform.settings import Settings, get_settings
from readiness_platform.spark import build_spark
from readiness_platform.transforms.baselines import baselines_by_pitcher
from readiness_platform.transforms.features import (
    PITCH_NAMES,
    build_timelines,
    pitcher_features_batch,
    score_features,
)


def recompute(spark: SparkSession, settings: Settings, include_late: bool = False,
              pitchers: list[int] | None = None) -> DataFrame:
    """Scored rows (the columns of `pitch_features`, without lineage) of every pitch in bronze."""
    tables = settings.tables
    def read(path: str) -> DataFrame:
        df = spark.read.format("delta").load(path)
        return df if include_late else df.where("not is_late")
    pitches = read(tables.pitches)
    if pitchers:
        pitches = pitches.where(F.col("pitcher_id").isin(pitchers))
    baselines = baselines_by_pitcher(spark.read.format("delta").load(tables.seasonal_baselines).collect())
    timelines = build_timelines(
        [r.asDict() for r in read(tables.calibration_events).collect()],
        [r.asDict() for r in read(tables.environment_readings).collect()],
    )
    features = pitcher_features_batch(pitches.select("pitcher_id", *PITCH_NAMES), baselines)
    scored = score_features(features, timelines, baselines).withColumn("registered_model", stamp(settings))
    return scored.select(*[n for n in table_specs()["pitch_features"].schema.fieldNames()
                           if n not in ("ingest_app_id", "ingest_batch_id")])


def stamp(settings: Settings) -> Column:
    """The registered model producing each scoring version now (model_registry.ServedBy), as a column."""
    from readiness_platform.model_registry import ServedBy

    served = ServedBy(settings).stamps()
    if not served:
        return F.lit(None).cast("string")
    return F.create_map(*[F.lit(x) for kv in served.items() for x in kv])[F.col("model_version")]


KEY = ("game_pk", "at_bat_number", "pitch_number", "model_version")


def merge_features(spark: SparkSession, settings: Settings, rows: DataFrame, app_id: str) -> None:
    """Replace (MERGE on pitch key and model version) silver rows with `rows`; insert the new ones."""
    from delta.tables import DeltaTable

    source = rows.withColumns({"ingest_app_id": F.lit(app_id), "ingest_batch_id": F.lit(None).cast("long")})
    on = " and ".join(f"t.{k} = s.{k}" for k in KEY)
    (DeltaTable.forPath(spark, settings.tables.pitch_features).alias("t").merge(source.alias("s"), on)
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())


@dataclass(frozen=True)
class LateReprocessing:
    """What a late-data reprocessing did: the late pitches it took in and what they said."""

    late_pitches: int
    pitchers: int
    games: int
    rows_merged: int
    alerts: list[dict]  # the late pitches' rows at warning or critical, worst first


def reprocess_late(spark: SparkSession, settings: Settings, batches: list[tuple[str, int]]) -> LateReprocessing:
    """Recompute, late rows included, the games that the late pitches of stream `batches` (app_id,
    batch_id) belong to, and merge them into silver: each late pitch gets its row, and the pitches after
    it in the game are corrected (their windows now hold it)."""
    if not batches:
        return LateReprocessing(0, 0, 0, 0, [])
    wanted = spark.createDataFrame(batches, "ingest_app_id string, ingest_batch_id long")
    late = (spark.read.format("delta").load(settings.tables.pitches).where("is_late")
            .join(wanted, ["ingest_app_id", "ingest_batch_id"]).select(*KEY[:3], "pitcher_id").cache())
    games = [tuple(r) for r in late.select("pitcher_id", "game_pk").distinct().collect()]
    if not games:
        late.unpersist()
        return LateReprocessing(0, 0, 0, 0, [])
    rows = (recompute(spark, settings, include_late=True, pitchers=sorted({p for p, _ in games}))
            .join(spark.createDataFrame(games, "pitcher_id long, game_pk long"), ["pitcher_id", "game_pk"])
            .cache())
    merge_features(spark, settings, rows, "late-reprocessing")
    flagged = (rows.join(late.drop("pitcher_id"), list(KEY[:3])).where("alert_level != 'ok'")
               .select("pitcher_id", *KEY, "event_time", "readiness", "alert_level", "alert_reasons")
               .orderBy(F.col("alert_level") == "warning", "readiness").collect())
    out = LateReprocessing(late.count(), len({p for p, _ in games}), len({g for _, g in games}), rows.count(),
                           [r.asDict() for r in flagged])
    rows.unpersist()
    late.unpersist()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--include-late", action="store_true")
    parser.add_argument("--pitcher", type=int, action="append")
    parser.add_argument("--write", action="store_true", help="merge the result into pitch_features")
    args = parser.parse_args(argv)
    settings = get_settings()
    spark = build_spark(settings, "readiness-recompute")
    rows = recompute(spark, settings, args.include_late, args.pitcher).cache()
    print(f"recomputed {rows.count()} rows", flush=True)
    if args.write:
        merge_features(spark, settings, rows, "recompute")
        print("merged into pitch_features", flush=True)


if __name__ == "__main__":
    main()
