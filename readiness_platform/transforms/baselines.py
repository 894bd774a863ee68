"""Seasonal baselines in Spark: per (pitcher, season), the domain's baselines by pitch family."""

from __future__ import annotations

from dataclasses import fields

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from readiness_platform.domain.air import adjusted_break, climatological_density
from readiness_platform.domain.baselines import BaselinePitch, pitcher_season_baselines
from readiness_platform.domain.features import Baseline
from readiness_platform.domain.venues import VENUES

BASELINE_SCHEMA = T.StructType([
    T.StructField("season", T.IntegerType(), False),
    T.StructField("pitcher_id", T.LongType(), False),
    *[T.StructField(f.name, {"str": T.StringType(), "int": T.LongType()}.get(f.type.replace(" | None", ""),
                                                                           T.DoubleType())) for f in fields(Baseline)],
])
INPUT_COLUMNS = ["pitcher_id", "game_pk", "game_date", "at_bat_number", "pitch_number", "pitch_family",
                 "release_speed", "release_spin_rate", "release_pos_z", "pfx_z", "home_team"]


def _season_baselines(pdf: pd.DataFrame) -> pd.DataFrame:
    pitcher_id, season = int(pdf["pitcher_id"].iloc[0]), int(pdf["season"].iloc[0])
    pitches = []
    for r in pdf.to_dict("records"):
        venue = VENUES.get(r["home_team"])
        rho = climatological_density(venue.elevation_m if venue else 0.0)  # no readings for history
        num = lambda v: None if v is None or pd.isna(v) else float(v)  # noqa: E731
        pitches.append(BaselinePitch(pitcher_id, int(r["game_pk"]), pd.Timestamp(r["game_date"]).date(),
                                     int(r["at_bat_number"]), int(r["pitch_number"]), r["pitch_family"],
                                     num(r["release_speed"]), num(r["release_spin_rate"]), num(r["release_pos_z"]),
                                     adjusted_break(num(r["pfx_z"]), rho)))
    rows = [{"season": season, "pitcher_id": pitcher_id, **{f.name: getattr(b, f.name) for f in fields(Baseline)}}
            for b in pitcher_season_baselines(pitches).values()]
    return pd.DataFrame(rows, columns=BASELINE_SCHEMA.fieldNames())


def seasonal_baselines(pitches: DataFrame) -> DataFrame:
    """Pitches (bronze columns) -> one row per (season, pitcher, family) with enough pitches."""
    return (
        pitches.select(*INPUT_COLUMNS)
        .withColumn("season", F.year("game_date"))
        .groupBy("pitcher_id", "season")
        .applyInPandas(_season_baselines, BASELINE_SCHEMA)
    )


def baselines_by_pitcher(rows: list) -> dict[tuple[int, int], dict[str, Baseline]]:
    """Collected baseline rows -> the lookup the feature functions take."""
    out: dict[tuple[int, int], dict[str, Baseline]] = {}
    for r in rows:
        d = r.asDict() if hasattr(r, "asDict") else dict(r)
        b = Baseline(**{f.name: d[f.name] for f in fields(Baseline)})
        out.setdefault((int(d["pitcher_id"]), int(d["season"])), {})[b.pitch_family] = b
    return out
