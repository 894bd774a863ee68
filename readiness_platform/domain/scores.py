"""Readiness, fatigue and risk indices (0-100), with the inputs that drove each one.

Every index is a weighted sum of components, each a 0-1 "how abnormal" of one input, so each index moves
the right way by construction (more velocity loss: more fatigue, less readiness) and can be explained as
points per input. Anchors (data README) behind the scales:
  velocity    -3 sigma of the pitcher's own 5-pitch noise = full; a -1.5 mph drop is ~1-1.9 sigma for a
              healthy starter (ordinary), while fatigue costs 0.6-5.6 % (~0.6-5 mph; Birfer 2019) and a
              reliever's third straight day ~1.5-2.3 mph (Hardball Times);
  spin, release   spread at twice the pitcher's typical in-game spread = full (spin CV p95 is ~1.3-1.5x
              its median in these files); four-seam spin trending down precedes Tommy John (Mayo 2021);
  break       3 inches of lost induced vertical break on fastballs (reference air) = full;
  pitch count 50 -> 0, 110 -> full (speed and release height drop before the 6th inning, Whiteside 2016);
  workload    back-to-back 0.5, third straight day 1.0, or pitches in the last 3 days / 75;
  rest        relative risk 0.685 per extra rest day (Whiteside, AJSM 2016): 1 at 0-1 days, 0.685^(d-1) after.
fatigue   = 100 (0.35 velo + 0.25 count + 0.15 workload + 0.10 spin + 0.10 release + 0.05 break)
risk      = 100 (0.30 rest + 0.20 velo + 0.15 spin + 0.15 release + 0.10 workload + 0.10 break)
readiness = 100 - (0.65 fatigue + 0.35 risk)
Model v2 multiplies the tracking-derived components (velo, spin, release, break) by a data confidence,
((calibration - 0.50) / 0.45) * (1 - late_fraction): a velocity drop seen by drifting cameras, or in an
outing with pitches missing, counts for less. v1 takes them at face value.

Model v2n is v2 judged against the pitcher's own norms (`norms=True` components), with the same weights:
  velocity    nothing within 1 sigma of his own 5-pitch noise, full at -3 sigma: (-z - 1) / 2;
  spin, release   nothing up to his own 90th-percentile window (baseline spin_cv_p90, release_z_sd_p90),
              full at twice it (the median-window rule of v1/v2 costs points in half of all windows);
  pitch count nothing until his typical outing length (the median of his outings' pitch counts in the
              baseline's season, outing_pitches_p50), full 30 % of it (at least 15 pitches) later; without
              one, v1's 50 -> 110;
  workload    pitches in the last 3 days / 75, or a third straight day: back-to-back is already in rest
              (0-1 days of rest = 1), so it is counted once.
The 1-sigma dead band, the 90th percentile and the 30 % are engineering judgement, set so that a healthy
start reads as healthy (the back-test's alert episodes per healthy start), not fitted to outcomes: the
corpus has one injury (Sale 2019), too few to fit anything to.
`pregame_readiness` keeps only what is known before the first pitch - rest
and workload - so a staff sees the day's starting point apart from what the outing has done to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from readiness_platform.domain.calibration import CONFIDENCE_FLOOR, CONFIDENCE_MAX

MODEL_VERSIONS = ("v1", "v2", "v2n")
NORMS_VERSIONS = frozenset({"v2n"})  # scored with components(x, norms=True)
CONFIDENCE_VERSIONS = frozenset({"v2", "v2n"})  # tracking components scaled by the data confidence
PREGAME_COMPONENTS = frozenset({"rest", "workload"})
FATIGUE_WEIGHTS = {"velo": 0.35, "count": 0.25, "workload": 0.15, "spin": 0.10, "release": 0.10, "break": 0.05}
RISK_WEIGHTS = {"rest": 0.30, "velo": 0.20, "spin": 0.15, "release": 0.15, "workload": 0.10, "break": 0.10}
READINESS_FROM = {"fatigue": 0.65, "risk": 0.35}
TRACKING_COMPONENTS = frozenset({"velo", "spin", "release", "break"})
REST_RISK_PER_DAY = 0.685


@dataclass(frozen=True)
class ScoreInputs:
    """Features of a pitch as the scores read them (None = not known: that component counts 0)."""

    velo_z: float | None
    velo_window_full: bool
    spin_cv: float | None
    spin_cv_typical: float | None
    spin_window_full: bool
    release_sd: float | None
    release_sd_typical: float | None
    release_window_full: bool
    break_delta_in: float | None  # fastballs: adjusted induced vertical break minus the baseline
    pitch_count_game: int
    pitches_last_3d: int
    days_since_prev_outing: int | None
    back_to_back: bool
    third_straight_day: bool
    calibration_confidence: float
    late_fraction: float
    spin_cv_high: float | None = None  # the pitcher's 90th-percentile 20-pitch spin CV (v2n)
    release_sd_high: float | None = None  # his 90th-percentile 25-pitch release-height SD, ft (v2n)
    typical_outing_pitches: float | None = None  # median pitches of his outings in the season (v2n)


class Driver(NamedTuple):
    """One input's share of an index, as `score` returns it (`indices` gives the same as plain tuples)."""

    score: str
    input: str
    value: float | None
    points: float


@dataclass(frozen=True)
class Scores:
    model_version: str
    readiness: float
    fatigue: float
    risk: float
    data_confidence: float
    drivers: tuple[Driver, ...]


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def _spread(value: float | None, reference: float | None, full: bool) -> float:
    """0 up to `reference`, 1 at twice it."""
    return _clip(value / reference - 1.0) if value is not None and reference and full else 0.0


def components(x: ScoreInputs, norms: bool = False) -> dict[str, tuple[float, float | None]]:
    """Each component's 0-1 value and the raw input behind it; `norms`: against the pitcher's own (v2n)."""
    full_velo = x.velo_z is not None and x.velo_window_full
    if norms:
        velo = _clip((-x.velo_z - 1.0) / 2.0) if full_velo else 0.0
        spin = _spread(x.spin_cv, x.spin_cv_high or x.spin_cv_typical, x.spin_window_full)
        release = _spread(x.release_sd, x.release_sd_high or x.release_sd_typical, x.release_window_full)
        typical = x.typical_outing_pitches
        count = (_clip((x.pitch_count_game - typical) / max(15.0, 0.3 * typical)) if typical
                 else _clip((x.pitch_count_game - 50) / 60.0))
        workload = max(1.0 if x.third_straight_day else 0.0, _clip(x.pitches_last_3d / 75.0))
    else:
        velo = _clip(-x.velo_z / 3.0) if full_velo else 0.0
        spin = _spread(x.spin_cv, x.spin_cv_typical, x.spin_window_full)
        release = _spread(x.release_sd, x.release_sd_typical, x.release_window_full)
        count = _clip((x.pitch_count_game - 50) / 60.0)
        workload = max(1.0 if x.third_straight_day else 0.0, 0.5 if x.back_to_back else 0.0,
                       _clip(x.pitches_last_3d / 75.0))
    brk = _clip(-x.break_delta_in / 3.0) if x.break_delta_in is not None else 0.0
    d = x.days_since_prev_outing
    rest = 0.0 if d is None else (1.0 if d <= 1 else REST_RISK_PER_DAY ** (d - 1))
    return {
        "velo": (velo, x.velo_z), "spin": (spin, x.spin_cv), "release": (release, x.release_sd),
        "break": (brk, x.break_delta_in), "count": (count, float(x.pitch_count_game)),
        "workload": (workload, float(x.pitches_last_3d)), "rest": (rest, None if d is None else float(d)),
    }


def data_confidence(calibration_confidence: float, late_fraction: float) -> float:
    weight = (calibration_confidence - CONFIDENCE_FLOOR) / (CONFIDENCE_MAX - CONFIDENCE_FLOOR)
    return _clip(weight) * _clip(1.0 - late_fraction)


def score(x: ScoreInputs, model_version: str) -> Scores:
    """The three indices of one pitch under a feature-model version."""
    if model_version not in MODEL_VERSIONS:
        raise ValueError(f"unknown model version {model_version!r}")
    confidence = data_confidence(x.calibration_confidence, x.late_fraction)
    parts = components(x, norms=model_version in NORMS_VERSIONS)
    readiness, fatigue, risk, drivers = indices(parts, confidence, model_version)
    return Scores(model_version, readiness, fatigue, risk, confidence, tuple(map(Driver._make, drivers)))


_VIA = {(k, part): f"{part} via {k}" for k in READINESS_FROM for part in {*FATIGUE_WEIGHTS, *RISK_WEIGHTS}}


def pregame_readiness(parts: dict[str, tuple[float, float | None]]) -> float:
    """Readiness from what is known before the first pitch: rest and workload (the same for every version
    with the same components)."""
    return indices({k: (v if k in PREGAME_COMPONENTS else 0.0, raw) for k, (v, raw) in parts.items()},
                   1.0, "v1")[0]


def indices(parts: dict[str, tuple[float, float | None]], confidence: float,
            model_version: str) -> tuple[float, float, float, list[tuple]]:
    """Readiness, fatigue and risk from the components (`components`) and the data confidence, with the
    drivers as plain (score, input, value, points) tuples: what `score` returns, without its objects
    (the stream scores every pitch it answers; `readiness.evaluate` calls this once per version)."""
    if model_version in CONFIDENCE_VERSIONS:
        parts = {k: (v * confidence if k in TRACKING_COMPONENTS else v, raw) for k, (v, raw) in parts.items()}
    drivers = []
    totals = {}
    for name, weights in (("fatigue", FATIGUE_WEIGHTS), ("risk", RISK_WEIGHTS)):
        total = 0.0
        for part, weight in weights.items():
            value, raw = parts[part]
            points = 100.0 * weight * value
            total += points
            drivers.append((name, part, raw, points))
        totals[name] = total
    readiness = 100.0 - sum(w * totals[k] for k, w in READINESS_FROM.items())
    for k, w in READINESS_FROM.items():
        drivers.extend(("readiness", _VIA[k, part], raw, -w * points)
                       for name, part, raw, points in drivers if name == k and points)
    return readiness, totals["fatigue"], totals["risk"], drivers
