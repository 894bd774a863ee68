"""Tracking systems: calibration confidence now, and a recalibration launched on request."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path
from fastapi.concurrency import run_in_threadpool

from api.deps import PrincipalDep, ServicesDep
from api.schemas import Calibration, RecalibrationLaunched, RecalibrationRequest
from readiness_platform.domain.calibration import needs_recalibration
from readiness_platform.observe import system_confidences

router = APIRouter(prefix="/api/calibration", tags=["calibration"])
SYSTEM_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="Tracking system id")


def _system(services, system_id: str):  # noqa: ANN001, ANN202
    found = {s.tracking_system_id: s for s in system_confidences(services.settings.tables)}.get(system_id)
    if found is None:
        raise HTTPException(404, f"no tracking system {system_id!r} has reported")
    return found


@router.get("/{system_id}", response_model=Calibration)
async def read_calibration(services: ServicesDep, who: PrincipalDep, system_id: str = SYSTEM_ID) -> Calibration:
    """Calibration confidence of a tracking system at the feed's current time (decays between calibrations)."""
    s = await run_in_threadpool(_system, services, system_id)
    return Calibration(tracking_system_id=system_id, confidence=s.confidence,
                       recalibration_needed=needs_recalibration(s.confidence), as_of=s.as_of,
                       last_calibration=s.last_calibration)


@router.post("/{system_id}/recalibrate", response_model=RecalibrationLaunched, status_code=202)
async def recalibrate(services: ServicesDep, who: PrincipalDep, body: RecalibrationRequest | None = None,
                      system_id: str = SYSTEM_ID) -> RecalibrationLaunched:
    """Launch the Dagster `recalibration` run for a tracking system (operators and admins)."""
    who.require_recalibrate()  # NotPermitted -> 403
    await run_in_threadpool(_system, services, system_id)
    reason = (body or RecalibrationRequest()).reason
    run_id = await run_in_threadpool(services.launch_recalibration, system_id, reason, who.key_id)
    return RecalibrationLaunched(run_id=run_id, tracking_system_id=system_id)
