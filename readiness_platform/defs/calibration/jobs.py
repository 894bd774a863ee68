"""`recalibration`: record a calibration event in the feed, where the stream picks it up and the
tracking system's decay resets. Launched by calibration_sensor, by hand from the UI, or by the API."""


from datetime import datetime, timezone

import dagster as dg

from readiness_platform.domain.events import CalibrationEvent
from readiness_platform.observe import feed_now
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.resources import PlatformResource


class RecalibrationConfig(dg.Config):
    """What to recalibrate and why (the sensor fills it in; by hand, say who asks)."""

    tracking_system_id: str
    trigger: str = "manual"  # or "confidence_low" (the sensor)
    reason: str = "requested by hand"
    at: str | None = None  # feed time of the calibration, ISO 8601 UTC; default: the feed's current time


@dg.op(tags={"kind": "feed"})
def record_calibration(context: dg.OpExecutionContext, config: RecalibrationConfig,
                       platform: PlatformResource) -> dg.Output[str]:
    """Write the calibration event into the feed: bronze `calibration_events` gets it, the decay resets."""
    settings = platform.settings()
    at = datetime.fromisoformat(config.at) if config.at else feed_now(settings.tables, settings.feed_clock_rate)
    event = CalibrationEvent(
        event_time=at,
        calibration_id=f"{config.tracking_system_id}-{at:%Y%m%dT%H%M%S}-{context.run_id[:8]}",
        tracking_system_id=config.tracking_system_id,
        trigger=config.trigger,
        reason=f"{config.reason} (dagster run {context.run_id})"[:400],
        ingest_time=datetime.now(timezone.utc),
    )
    LandingFolderSink(settings.landing).write([event.model_dump_json()])
    context.log.info(f"calibration {event.calibration_id} written to {settings.landing} at feed time {at}")
    return dg.Output(event.calibration_id, metadata={
        "calibration_id": event.calibration_id, "tracking_system_id": config.tracking_system_id,
        "trigger": config.trigger, "reason": config.reason, "feed_time": at.isoformat(),
    })


@dg.job(tags={"concept": "calibration"})
def recalibration() -> None:
    """Recalibrate one tracking system: record the calibration event the stream picks up."""
    record_calibration()