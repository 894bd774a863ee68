"""The calibration loop through the real stream, and the observation of the stream's tables:
readings drift busch_iii below 0.70 -> the sensor asks -> the run writes a calibration into the feed ->
the stream lands it -> the decay is reset and the sensor is quiet."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from readiness_platform.defs.calibration.jobs import recalibration
from readiness_platform.defs.calibration.sensors import calibration_sensor
from readiness_platform.defs.stream.assets import STREAM_TABLES
from readiness_platform.defs.stream.sensors import stream_tables_observer
from readiness_platform.domain.events import CalibrationEvent, EnvironmentReading
from readiness_platform.observe import system_confidences
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.resources import PlatformResource
from spark_jobs.stream.main import start_stream

T0 = datetime(2020, 9, 3, 23, 0, tzinfo=timezone.utc)


def _feed(minutes: int) -> list[str]:
    now = datetime.now(timezone.utc)
    lines = [CalibrationEvent(event_time=T0, calibration_id="busch_iii-pregame", tracking_system_id="busch_iii",
                              trigger="pregame", ingest_time=now).model_dump_json()]
    lines += [EnvironmentReading(event_time=T0 + timedelta(minutes=m), tracking_system_id="busch_iii",
                                 temperature_c=20.0, elevation_m=142.0, relative_humidity_pct=50.0,
                                 wind_speed_mph=10.0, wind_direction_deg=90.0, vibration_mm_s=0.0,
                                 ingest_time=now).model_dump_json() for m in range(minutes + 1)]
    return lines


def _run_stream(spark, settings) -> None:  # noqa: ANN001
    query = start_stream(spark, settings, available_now=True)
    try:
        query.awaitTermination(180)
    finally:
        query.stop()


@pytest.mark.spark
def test_a_drifting_system_is_recalibrated_through_the_stream(spark, settings):
    LandingFolderSink(settings.landing).write(_feed(minutes=60))
    started = time.monotonic()
    _run_stream(spark, settings)
    platform = PlatformResource(home=str(settings.home))
    (before,) = system_confidences(settings.tables)
    assert before.confidence < 0.70

    request = calibration_sensor(dg.build_sensor_context(), platform=platform).run_requests[0]
    result = recalibration.execute_in_process(run_config=request.run_config, resources={"platform": platform},
                                              tags=request.tags)
    elapsed = time.monotonic() - started
    assert result.success
    _run_stream(spark, settings)

    (after,) = system_confidences(settings.tables)
    # the feed's "now": its newest event, moved on by the wall time since the stream committed it (rate 1)
    ahead = (after.last_calibration - (T0.replace(tzinfo=None) + timedelta(minutes=60))).total_seconds()
    assert 0 <= ahead <= elapsed
    assert after.confidence == pytest.approx(0.95)
    landed = spark.read.format("delta").load(settings.tables.calibration_events).where("trigger = 'confidence_low'")
    row = landed.first()
    assert landed.count() == 1 and not row["is_late"] and result.run_id in row["reason"]
    assert calibration_sensor(dg.build_sensor_context(), platform=platform).skip_reason is not None

    # the observer: one observation per stream table that exists, counts as Delta has them; quiet when unchanged
    first = stream_tables_observer(dg.build_sensor_context(), platform=platform)
    counts = {e.asset_key.path[-1]: e.metadata["dagster/row_count"].value for e in first.asset_events}
    assert set(counts) <= set(STREAM_TABLES) and {"environment_readings", "calibration_events"} <= set(counts)
    for name, n in counts.items():
        assert n == spark.read.format("delta").load(settings.tables.path(name)).count(), name
    second = stream_tables_observer(dg.build_sensor_context(cursor=first.cursor), platform=platform)
    assert second.asset_events == []
