"""Seasonal baselines: per pitcher, season and pitch family, the reference the stream's z-scores use.

    python -m spark_jobs.baselines.main [--source bronze|corpus] [--season 2019 ...]

`bronze` (default) reads the lakehouse's `pitches` (on-time and late: a baseline wants every pitch);
`corpus` reads the real Statcast CSVs directly, to seed baselines before any stream has run. Each season
written replaces that season's partition only (replaceWhere), so a backfill of one season leaves the
others as they were. Prints one line per season.
"""

from __future__ import annotations

import argparse

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from readiness_platform.lakehouse import ensure_tables
from readiness_platform.replay.statcast import load_pitches, statcast_files
from readiness_platform.settings import Settings, get_settings
from readiness_platform.spark import build_spark
from readiness_platform.transforms.baselines import INPUT_COLUMNS, seasonal_baselines
from readiness_platform.transforms.contract import record_schema


def corpus_pitches(spark: SparkSession, settings: Settings) -> DataFrame:
    """The shared Statcast corpus as a pitches DataFrame (bronze's pitch columns)."""
    pitches = load_pitches(statcast_files(settings.statcast_dir))
    frame = pd.DataFrame([p.model_dump(exclude={"kind"}) for p in pitches])
    frame["pitch_family"] = frame["pitch_family"].astype(str)
    return spark.createDataFrame(frame, schema=record_schema("pitch"))


def season_pitches(spark: SparkSession, settings: Settings, season: int) -> DataFrame:
    """Every pitch of `season` the platform knows: bronze (live) and the Statcast archive, one row per key.

    The archive is the corpus of real seasons; bronze holds what the stream has landed (late rows too).
    Where both hold a pitch, bronze's row wins: it is what the stream scored.
    """
    from delta.tables import DeltaTable

    keys = ["game_pk", "at_bat_number", "pitch_number"]
    archive = corpus_pitches(spark, settings).select(*INPUT_COLUMNS).where(F.year("game_date") == season)
    if not DeltaTable.isDeltaTable(spark, settings.tables.pitches):
        return archive
    live = spark.read.format("delta").load(settings.tables.pitches).select(*INPUT_COLUMNS) \
        .where(F.year("game_date") == season).dropDuplicates(keys)
    return live.unionByName(archive.join(live.select(*keys), keys, "left_anti"))


def write_baselines(spark: SparkSession, settings: Settings, pitches: DataFrame,
                    seasons: list[int] | None = None) -> dict[int, int]:
    """Compute and write the baselines of `seasons` (default: every season present); rows per season."""
    ensure_tables(spark, settings.tables, ["seasonal_baselines"])
    pitches = pitches.select(*INPUT_COLUMNS)
    if seasons:
        pitches = pitches.where(F.year("game_date").isin(seasons))
    rows = seasonal_baselines(pitches).cache()
    written = {r["season"]: r["n"] for r in rows.groupBy("season").agg(F.count("*").alias("n")).collect()}
    for season in sorted(set(seasons or []) | set(written)):
        (rows.where(F.col("season") == season).write.format("delta").mode("overwrite")
         .option("replaceWhere", f"season = {season}").save(settings.tables.seasonal_baselines))
        print(f"baselines {season}: {written.get(season, 0)} pitcher-family rows", flush=True)
    rows.unpersist()
    return {s: written.get(s, 0) for s in sorted(set(seasons or []) | set(written))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["bronze", "corpus"], default="bronze")
    parser.add_argument("--season", type=int, action="append", help="season(s) to (re)compute; default all")
    args = parser.parse_args(argv)
    settings = get_settings()
    spark = build_spark(settings, "readiness-baselines")
    source = (corpus_pitches(spark, settings) if args.source == "corpus"
              else spark.read.format("delta").load(settings.tables.pitches))
    write_baselines(spark, settings, source, args.season)


if __name__ == "__main__":
    main()
