"""late_data_sensor: a `late_reprocessing` run for each set of stream batches that landed late pitches."""

from datetime import datetime

import dagster as dg

from readiness_platform.defs.late_data.jobs import LateReprocessingConfig, late_reprocessing
from readiness_platform.observe import late_batches
from readiness_platform.resources import PlatformResource


@dg.sensor(job=late_reprocessing, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def late_data_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Launch `late_reprocessing` when the stream has landed pitches behind its watermark."""
    after = datetime.fromisoformat(context.cursor) if context.cursor else None
    batches = late_batches(platform.settings().tables, after)
    if not batches:
        return dg.SensorResult(skip_reason="no late pitches landed since the last run")
    last = batches[-1].committed_at
    late = sum(b.late_pitches for b in batches)
    reason = f"{late} late pitches in {len(batches)} stream batches up to {last:%Y-%m-%d %H:%M:%S}Z"
    return dg.SensorResult(
        run_requests=[dg.RunRequest(
            run_key=f"late@{last.isoformat()}",
            run_config=dg.RunConfig(ops={"reprocess_late_pitches": LateReprocessingConfig(
                batches=[f"{b.app_id}:{b.batch_id}" for b in batches], reason=reason)}),
            tags={"reason": reason},
        )],
        cursor=last.isoformat(),
    )
