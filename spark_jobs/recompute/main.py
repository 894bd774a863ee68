"""Batch recompute: every pitch's features, indices and alerts from bronze, as the stream computes them.

    python -m spark_jobs.recompute.main [--include-late] [--pitcher ID ...] [--write]

What the stream's final rows must equal: on-time pitches (bronze `is_late = false`), on-time readings and
calibrations, the same seasonal baselines, the same domain functions. `--include-late` also takes the late
rows - what the late-data reprocessing publishes once late pitches have landed. `--write` replaces the
recomputed pitchers' rows in silver `pitch_features` (a MERGE on pitch key and model version).
"""

from __future__ import annotations

import argparse

from pyspark.sql import DataFrame, SparkSession
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
    scored = score_features(features, timelines, baselines)
    return scored.select(*[n for n in table_specs()["pitch_features"].schema.fieldNames()
                           if n not in ("ingest_app_id", "ingest_batch_id")])


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
        from delta.tables import DeltaTable

        source = rows.withColumns({"ingest_app_id": F.lit("recompute"), "ingest_batch_id": F.lit(None).cast("long")})
        key = " and ".join(f"t.{k} = s.{k}" for k in ("game_pk", "at_bat_number", "pitch_number", "model_version"))
        (DeltaTable.forPath(spark, settings.tables.pitch_features).alias("t").merge(source.alias("s"), key)
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
        print("merged into pitch_features", flush=True)


if __name__ == "__main__":
    main()
