"""Alert levels from the thresholds the staff uses, with the reasons that set them."""

from __future__ import annotations

from dataclasses import dataclass

CRITICAL = {"readiness_below": 60.0, "calibration_below": 0.6, "late_fraction_above": 0.3, "feature_qa_below": 0.7}
WARNING = {"readiness_below": 80.0, "calibration_below": 0.8, "late_fraction_above": 0.2, "velo_delta_below": -2.0}


@dataclass(frozen=True)
class Alert:
    level: str  # "ok", "warning" or "critical"
    reasons: tuple[str, ...]


def alert(readiness: float, calibration_confidence: float, late_fraction: float,
          velo_delta_mph: float | None, feature_qa_min: float | None = None) -> Alert:
    """The worst level any threshold reaches, and every threshold crossed."""
    critical, warning = [], []
    if readiness < CRITICAL["readiness_below"]:
        critical.append(f"readiness {readiness:.1f} < 60")
    elif readiness < WARNING["readiness_below"]:
        warning.append(f"readiness {readiness:.1f} < 80")
    if calibration_confidence < CRITICAL["calibration_below"]:
        critical.append(f"calibration {calibration_confidence:.2f} < 0.6")
    elif calibration_confidence < WARNING["calibration_below"]:
        warning.append(f"calibration {calibration_confidence:.2f} < 0.8")
    if late_fraction > CRITICAL["late_fraction_above"]:
        critical.append(f"late data {late_fraction:.2f} > 0.3")
    elif late_fraction > WARNING["late_fraction_above"]:
        warning.append(f"late data {late_fraction:.2f} > 0.2")
    if feature_qa_min is not None and feature_qa_min < CRITICAL["feature_qa_below"]:
        critical.append(f"feature QA {feature_qa_min:.2f} < 0.7")
    if velo_delta_mph is not None and velo_delta_mph < WARNING["velo_delta_below"]:
        warning.append(f"velocity {velo_delta_mph:+.1f} mph < -2.0")
    level = "critical" if critical else "warning" if warning else "ok"
    return Alert(level, tuple(critical + warning))
