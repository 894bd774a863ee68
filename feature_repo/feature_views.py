"""The served features: one view per model version, same columns, keyed by pitcher.

Every online value carries the event time of the pitch it came from (the view's timestamp) and says
whether it is final or still provisional (`is_final`), so nothing provisional passes for final.
"""

from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Array, Bool, Float64, Int64, String

from feature_repo.entities import pitcher
from feature_repo.sources import readiness_push_source
from readiness_platform.settings import Tables

FIELDS = [
    Field(name="readiness", dtype=Float64, description="Readiness index 0-100 (higher: more ready)."),
    Field(name="readiness_pregame", dtype=Float64,
          description="Readiness from what was known before the first pitch (rest, workload), 0-100."),
    Field(name="fatigue", dtype=Float64, description="Fatigue index 0-100."),
    Field(name="risk", dtype=Float64, description="Injury-risk index 0-100."),
    Field(name="alert_level", dtype=String,
          description="The pitcher's own alert (readiness, velocity): ok, warning or critical."),
    Field(name="alert_reasons", dtype=Array(String), description="Why the alert level is what it is."),
    Field(name="data_quality", dtype=String,
          description="Condition of the system and feed that measured the pitch (calibration, late data): "
                      "ok, warning or critical. A flag beside the scores, alerted once per system, not per pitcher."),
    Field(name="data_quality_reasons", dtype=Array(String), description="The data thresholds crossed."),
    Field(name="data_confidence", dtype=Float64, description="Trust in the tracking inputs, 0-1."),
    Field(name="calibration_confidence", dtype=Float64,
          description="Confidence of the tracking system's calibration when the pitch was thrown, 0.50-0.95."),
    Field(name="recalibration_needed", dtype=Bool, description="Calibration confidence below 0.70."),
    Field(name="tracking_system_id", dtype=String, description="The tracking system that measured the pitch."),
    Field(name="velo_delta_mph", dtype=Float64,
          description="Fastball velocity, last 5, minus the seasonal baseline (mph)."),
    Field(name="velo_z", dtype=Float64, description="That delta in units of the pitcher's 5-pitch noise."),
    Field(name="spin_cv", dtype=Float64, description="Spin-rate coefficient of variation, last 10 pitches."),
    Field(name="release_height_sd_ft", dtype=Float64, description="Release height spread, last 10 pitches (ft)."),
    Field(name="break_delta_in", dtype=Float64,
          description="Air-adjusted induced vertical break minus baseline, fastballs (in)."),
    Field(name="air_density_ratio", dtype=Float64, description="Air density over the reference air."),
    Field(name="pitch_count_game", dtype=Int64, description="Pitches thrown in the game so far."),
    Field(name="pitches_last_3d", dtype=Int64, description="Pitches thrown in the last 3 days."),
    Field(name="days_since_prev_outing", dtype=Int64, description="Rest days before this outing."),
    Field(name="late_fraction", dtype=Float64, description="Share of the outing's pitches that arrived late."),
    Field(name="release_speed", dtype=Float64, description="Velocity of the pitch (mph)."),
    Field(name="pitch_family", dtype=String, description="Fastball, breaking, offspeed ..."),
    Field(name="game_pk", dtype=Int64, description="The game of the pitch."),
    Field(name="at_bat_number", dtype=Int64, description="Its at-bat in the game."),
    Field(name="pitch_number", dtype=Int64, description="Its number in the at-bat."),
    Field(name="is_final", dtype=Bool,
          description="False while the watermark has not passed the pitch (values may still change)."),
]
FEATURE_NAMES = [f.name for f in FIELDS]
V2_ONLY = ("break_delta_in", "air_density_ratio", "data_confidence")  # inputs model v1 does not read


def view_name(version: str) -> str:
    return f"pitcher_readiness_{version}"


def readiness_view(version: str, tables: Tables) -> FeatureView:
    """The latest readiness of each pitcher under model `version`."""
    return FeatureView(
        name=view_name(version),
        entities=[pitcher],
        ttl=timedelta(days=30),  # the rest-day window the risk index looks back over
        schema=FIELDS,
        source=readiness_push_source(version, tables),
        online=True,
        description=f"Each pitcher's latest readiness, fatigue, risk and their inputs under model {version}.",
        owner="data-platform@readiness",
        tags={"model_version": version},
    )
