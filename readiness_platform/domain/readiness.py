"""One pitch, all the way: window features + context (calibration, air) -> indices and alert, per version.

Each row carries the pitcher's own alert (readiness, velocity) and, beside it, the data-quality flag of the
system and feed that measured the pitch (calibration, late data): domain.alerts says why they are apart.

The stream and the batch recompute both call `evaluate`, so they can only differ in what they feed it.
"""

from __future__ import annotations

from dataclasses import dataclass

from readiness_platform.domain.air import RHO_REF, adjusted_break
from readiness_platform.domain.alerts import data_quality, pitcher_alert
from readiness_platform.domain.calibration import needs_recalibration
from readiness_platform.domain.features import Baseline, WindowFeatures
from readiness_platform.domain.pitch_types import FASTBALL_FAMILIES
from readiness_platform.domain.scores import (
    MODEL_VERSIONS,
    NORMS_VERSIONS,
    ScoreInputs,
    components,
    data_confidence,
    indices,
    pregame_readiness,
)


@dataclass(frozen=True)
class Context:
    """The tracking system and the air when the pitch was thrown."""

    calibration_confidence: float
    air_density_kg_m3: float
    air_from_reading: bool  # False: the park's standard atmosphere (no reading yet)
    wind_speed_mph: float | None
    wind_direction_deg: float | None


def _weight(driver: tuple) -> float:
    return -abs(driver[3])


def evaluate(pitch_family: str, pfx_x: float | None, pfx_z: float | None, wf: WindowFeatures,
             baselines: dict[str, Baseline], ctx: Context, into: dict | None = None) -> list[dict]:
    """The feature rows of one pitch, one per model version (columns of `pitch_features`), each starting
    from the fields of `into` (the pitch's own row, for the stream and the recompute: one dict per version
    instead of two)."""
    pfx_x_adj = adjusted_break(pfx_x, ctx.air_density_kg_m3)
    pfx_z_adj = adjusted_break(pfx_z, ctx.air_density_kg_m3)
    own = baselines.get(pitch_family)
    break_delta = (pfx_z_adj - own.pfx_z_adj_mean
                   if pitch_family in FASTBALL_FAMILIES and own and own.pfx_z_adj_mean is not None
                   and pfx_z_adj is not None else None)
    inputs = ScoreInputs(
        velo_z=wf.velo_z,
        velo_window_full=wf.fb_window_full,
        spin_cv=wf.spin_cv,
        spin_cv_typical=own.spin_cv if own else None,
        spin_window_full=wf.spin_window_full,
        release_sd=wf.release_height_sd_ft,
        release_sd_typical=own.release_z_sd if own else None,
        release_window_full=wf.release_window_full,
        break_delta_in=break_delta,
        pitch_count_game=wf.pitch_count_game,
        pitches_last_3d=wf.pitches_last_3d,
        days_since_prev_outing=wf.days_since_prev_outing,
        back_to_back=wf.back_to_back,
        third_straight_day=wf.third_straight_day,
        calibration_confidence=ctx.calibration_confidence,
        late_fraction=wf.late_fraction,
        spin_cv_high=own.spin_cv_p90 if own else None,
        release_sd_high=own.release_z_sd_p90 if own else None,
        typical_outing_pitches=next(iter(baselines.values())).outing_pitches_p50 if baselines else None,
    )
    quality = data_quality(ctx.calibration_confidence, wf.late_fraction)
    common = {
        **(into or {}),
        **vars(wf),  # flat: dataclasses.asdict deep-copies every value (a third of scoring's time)
        "pfx_x_adj_in": pfx_x_adj,
        "pfx_z_adj_in": pfx_z_adj,
        "break_delta_in": break_delta,
        "air_density_kg_m3": ctx.air_density_kg_m3,
        "air_density_ratio": ctx.air_density_kg_m3 / RHO_REF,
        "air_from_reading": ctx.air_from_reading,
        "wind_speed_mph": ctx.wind_speed_mph,
        "wind_direction_deg": ctx.wind_direction_deg,
        "calibration_confidence": ctx.calibration_confidence,
        "recalibration_needed": needs_recalibration(ctx.calibration_confidence),
        "data_quality": quality.level,
        "data_quality_reasons": list(quality.reasons),
    }
    confidence = data_confidence(ctx.calibration_confidence, wf.late_fraction)
    parts = {False: components(inputs)}
    parts[True] = components(inputs, norms=True)
    pregame = {norms: pregame_readiness(p) for norms, p in parts.items()}
    rows = []
    for version in MODEL_VERSIONS:
        norms = version in NORMS_VERSIONS
        readiness, fatigue, risk, drivers = indices(parts[norms], confidence, version)
        a = pitcher_alert(readiness, wf.velo_delta_mph, wf.fb_window_full, wf.pitch_count_game, wf.velo_z, norms)
        rows.append({
            **common,
            "model_version": version,
            "readiness": readiness,
            "readiness_pregame": pregame[norms],
            "fatigue": fatigue,
            "risk": risk,
            "data_confidence": confidence,
            "alert_level": a.level,
            "alert_reasons": list(a.reasons),
            "drivers": [{"score": name, "input": part, "value": raw, "points": points}
                        for name, part, raw, points in sorted((d for d in drivers if d[3]), key=_weight)],
        })
    return rows
