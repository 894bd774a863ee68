"""The cutover evidence from silver `pitch_features`: both versions of every pitch, side by side."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from readiness_platform.domain.cutover import Evidence

KEY = ["game_pk", "at_bat_number", "pitch_number"]


def window(features: DataFrame, start: date | None, end: date | None) -> DataFrame:
    if start:
        features = features.where(F.col("game_date") >= F.lit(start))
    if end:
        features = features.where(F.col("game_date") <= F.lit(end))
    return features


def compare(features: DataFrame, baseline: str, candidate: str, start: date | None = None,
            end: date | None = None) -> Evidence:
    """Evidence on `candidate` against `baseline` over the game dates [start, end] (open ends: all)."""
    rows = window(features, start, end)

    def version(v: str, suffix: str) -> DataFrame:
        return rows.where(F.col("model_version") == v).select(
            *KEY, "pitcher_id", F.col("readiness").alias(f"r{suffix}"), F.col("alert_level").alias(f"a{suffix}"))

    both = version(baseline, "b").join(version(candidate, "c").drop("pitcher_id"), KEY, "left")
    pitch = both.agg(
        F.count("*").alias("pitches"),
        F.count("rc").alias("covered"),
        F.avg((F.col("ab") == F.col("ac")).cast("double")).alias("agreement"),
        F.avg(F.abs(F.col("rb") - F.col("rc"))).alias("mae"),
        F.corr("rb", "rc").alias("corr"),
    ).first()
    games = both.groupBy("pitcher_id", "game_pk").agg(
        F.max((F.col("ab") != "ok").cast("int")).alias("alert_b"),
        F.max((F.coalesce(F.col("ac"), F.lit("ok")) != "ok").cast("int")).alias("alert_c"),
    ).agg(F.count("*").alias("n"), F.avg("alert_b").alias("rate_b"), F.avg("alert_c").alias("rate_c")).first()
    n = int(pitch["pitches"])
    return Evidence(
        baseline=baseline, candidate=candidate,
        window=f"{start or 'first game'} .. {end or 'last game'}",
        pitches=n,
        coverage=(pitch["covered"] / n) if n else 0.0,
        level_agreement=float(pitch["agreement"] or 0.0),
        readiness_mae=float(pitch["mae"] or 0.0),
        readiness_corr=None if pitch["corr"] is None else float(pitch["corr"]),
        alert_rate_baseline=float(games["rate_b"] or 0.0),
        alert_rate_candidate=float(games["rate_c"] or 0.0),
        pitcher_games=int(games["n"]),
    )
