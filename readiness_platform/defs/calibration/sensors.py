"""calibration_sensor: watches each tracking system's confidence, asks for `recalibration` below 0.70, or
below 0.85 at a break in play (domain.calibration: the policy)."""

import dagster as dg

from readiness_platform.defs.calibration.jobs import RecalibrationConfig, recalibration
from readiness_platform.domain.calibration import BREAK_IDLE_S, OPPORTUNISTIC_BELOW, RECALIBRATE_BELOW
from readiness_platform.observe import SystemConfidence, system_confidences
from readiness_platform.resources import PlatformResource


def recalibration_requests(systems: list[SystemConfidence]) -> list[dg.RunRequest]:
    """A run per system below the recalibration threshold, or drifting at a break in play, once per
    calibration it has drifted from."""
    out = []
    for s in systems:
        if s.recalibration_needed:
            why = f"confidence {s.confidence:.3f} < {RECALIBRATE_BELOW}"
        elif s.recalibration_opportunity:
            why = (f"confidence {s.confidence:.3f} < {OPPORTUNISTIC_BELOW} at a break in play "
                   f"(no pitch for {s.idle_s:.0f} s >= {BREAK_IDLE_S:.0f} s)")
        else:
            continue
        since = s.last_calibration.isoformat() if s.last_calibration else "never"
        reason = f"{why} at feed time {s.as_of:%Y-%m-%d %H:%M:%S}Z (last calibration: {since})"
        out.append(dg.RunRequest(
            run_key=f"{s.tracking_system_id}@{since}",  # one request per drift, however many ticks see it
            run_config=dg.RunConfig(ops={"record_calibration": RecalibrationConfig(
                tracking_system_id=s.tracking_system_id,
                trigger="confidence_low" if s.recalibration_needed else "scheduled", reason=reason)}),
            tags={"tracking_system_id": s.tracking_system_id, "reason": reason},
        ))
    return out


@dg.sensor(job=recalibration, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def calibration_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Launch `recalibration` for each tracking system below 0.70, or below 0.85 at a break in play."""
    systems = system_confidences(platform.settings().tables)
    if not systems:
        return dg.SensorResult(skip_reason="no calibration or environment data in bronze yet")
    requests = recalibration_requests(systems)
    status = "; ".join(f"{s.tracking_system_id} {s.confidence:.3f}" for s in systems)
    context.log.info(f"confidence by system: {status}")
    if not requests:
        return dg.SensorResult(skip_reason=f"every system at or above {RECALIBRATE_BELOW}, none drifting at a "
                                           f"break: {status}")
    return dg.SensorResult(run_requests=requests)
