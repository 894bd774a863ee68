"""Alert levels from the thresholds the staff uses, with the reasons that set them.

Two kinds, because they call for two different people to act:
  pitcher alerts   readiness and fastball velocity: something about *this pitcher* (the pitching coach);
  data quality     calibration confidence, late data, feature QA: a condition of a tracking system or a
                   feed, the same for every pitcher measured by it (the operator). A pitcher's row carries
                   it as a flag beside the scores (`data_quality`), and it is raised once per system and
                   episode (domain.episodes), never as an alert of each pitcher.
The thresholds are the customer's and are fixed; what they apply to is this module's to get right:
  velocity    a "5-pitch velocity delta" needs 5 fastballs (a full window), on a pitch past the game's first
              SKIP_FIRST_PITCHES, the part of a game the seasonal baseline is computed from (like with like);
              models judged against the pitcher's norms (v2n) also need it confirmed by his own noise:
              z <= -2 (for Sale or Darvish a -2 mph window is within their ordinary wobble).
"""

from __future__ import annotations

from dataclasses import dataclass

from readiness_platform.domain.baselines import SKIP_FIRST_PITCHES

CRITICAL = {"readiness_below": 60.0, "calibration_below": 0.6, "late_fraction_above": 0.3, "feature_qa_below": 0.7}
WARNING = {"readiness_below": 80.0, "calibration_below": 0.8, "late_fraction_above": 0.2, "velo_delta_below": -2.0}
VELO_Z_CONFIRM = -2.0  # v2n: the velocity warning needs the pitcher's own z at or below this too
LEVELS = ("ok", "warning", "critical")


@dataclass(frozen=True)
class Alert:
    level: str  # "ok", "warning" or "critical"
    reasons: tuple[str, ...]


def _worst(critical: list[str], warning: list[str]) -> Alert:
    return Alert("critical" if critical else "warning" if warning else "ok", tuple(critical + warning))


def velocity_comparable(velo_window_full: bool, pitch_count_game: int) -> bool:
    """Whether a pitch's 5-pitch velocity delta can be judged: a full window, past the game's first pitches."""
    return velo_window_full and pitch_count_game > SKIP_FIRST_PITCHES


def pitcher_alert(readiness: float, velo_delta_mph: float | None, velo_window_full: bool,
                  pitch_count_game: int, velo_z: float | None = None, confirm_z: bool = False) -> Alert:
    """The pitcher's own alert: readiness below 80 / 60, or a full-window velocity delta below -2.0 mph
    (with `confirm_z`, only when his own z is at or below -2 as well)."""
    critical, warning = [], []
    if readiness < CRITICAL["readiness_below"]:
        critical.append(f"readiness {readiness:.1f} < 60")
    elif readiness < WARNING["readiness_below"]:
        warning.append(f"readiness {readiness:.1f} < 80")
    if (velo_delta_mph is not None and velo_delta_mph < WARNING["velo_delta_below"]
            and velocity_comparable(velo_window_full, pitch_count_game)
            and (not confirm_z or (velo_z is not None and velo_z <= VELO_Z_CONFIRM))):
        warning.append(f"velocity {velo_delta_mph:+.1f} mph < -2.0")
    return _worst(critical, warning)


def data_quality(calibration_confidence: float | None = None, late_fraction: float | None = None,
                 feature_qa: float | None = None) -> Alert:
    """The condition of the data behind a score: every data threshold crossed (None: not measured)."""
    critical, warning = [], []
    if calibration_confidence is not None:
        if calibration_confidence < CRITICAL["calibration_below"]:
            critical.append(f"calibration {calibration_confidence:.2f} < 0.6")
        elif calibration_confidence < WARNING["calibration_below"]:
            warning.append(f"calibration {calibration_confidence:.2f} < 0.8")
    if late_fraction is not None:
        if late_fraction > CRITICAL["late_fraction_above"]:
            critical.append(f"late data {late_fraction:.2f} > 0.3")
        elif late_fraction > WARNING["late_fraction_above"]:
            warning.append(f"late data {late_fraction:.2f} > 0.2")
    if feature_qa is not None and feature_qa < CRITICAL["feature_qa_below"]:
        critical.append(f"feature QA {feature_qa:.2f} < 0.7")
    return _worst(critical, warning)
