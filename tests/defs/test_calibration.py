"""Calibration orchestration: the sensor reads confidence from bronze, the run writes a calibration event
that the stream lands and that resets the decay."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pandas as pd
import pytest
from deltalake import write_deltalake

from readiness_platform.defs.calibration.jobs import RecalibrationConfig, recalibration
from readiness_platform.defs.calibration.sensors import calibration_sensor
from readiness_platform.domain.events import FEED_EVENT
from readiness_platform.observe import system_confidences
from readiness_platform.resources import PlatformResource

T0 = datetime(2020, 9, 3, 23, 0, tzinfo=timezone.utc)


def _bronze(settings, minutes: int, systems=("busch_iii", "citi_field")) -> None:  # noqa: ANN001
    """busch_iii calibrated at T0 under a steady 10 mph wind, read each minute for `minutes`;
    citi_field calibrated at the last minute (fresh)."""
    tables = settings.tables
    cal = pd.DataFrame({"tracking_system_id": list(systems),
                        "event_time": [T0, T0 + timedelta(minutes=minutes)]})
    env = pd.DataFrame([{"tracking_system_id": s, "event_time": T0 + timedelta(minutes=m), "temperature_c": 20.0,
                         "wind_speed_mph": 10.0, "vibration_mm_s": 0.0} for s in systems for m in range(minutes + 1)])
    write_deltalake(tables.calibration_events, cal, mode="overwrite")
    write_deltalake(tables.environment_readings, env, mode="overwrite")


def _expected_confidence(minutes: float) -> float:
    """By hand: decay rate 1 + 0.04 * 10 mph = 1.4, half-life 45 min, from 0.95 toward the 0.50 floor."""
    return 0.50 + 0.45 * 2 ** (-1.4 * minutes / 45)


def test_confidence_from_bronze_matches_the_hand_worked_decay(settings):
    _bronze(settings, minutes=30)
    by_system = {s.tracking_system_id: s for s in system_confidences(settings.tables)}
    assert by_system["busch_iii"].confidence == pytest.approx(_expected_confidence(30), abs=1e-9)
    assert by_system["busch_iii"].as_of == T0 + timedelta(minutes=30)
    assert by_system["citi_field"].confidence == pytest.approx(0.95)


def test_sensor_skips_while_every_system_is_above_the_threshold(settings):
    _bronze(settings, minutes=30)  # busch_iii at ~0.736: drifting, not yet below 0.70
    result = calibration_sensor(dg.build_sensor_context(), platform=PlatformResource(home=str(settings.home)))
    assert not result.run_requests
    assert f"busch_iii {_expected_confidence(30):.3f}" in result.skip_reason.skip_message


def test_sensor_requests_one_recalibration_per_drift(settings):
    _bronze(settings, minutes=60)  # busch_iii at ~0.633
    platform = PlatformResource(home=str(settings.home))
    result = calibration_sensor(dg.build_sensor_context(), platform=platform)
    assert [r.tags["tracking_system_id"] for r in result.run_requests] == ["busch_iii"]
    request = result.run_requests[0]
    assert request.run_key == f"busch_iii@{T0.replace(tzinfo=None).isoformat()}"
    config = request.run_config["ops"]["record_calibration"]["config"]
    assert config["trigger"] == "confidence_low"
    assert f"confidence {_expected_confidence(60):.3f} < 0.7" in config["reason"]
    again = calibration_sensor(dg.build_sensor_context(), platform=platform)
    assert again.run_requests[0].run_key == request.run_key  # the same drift: Dagster runs it once


def _pitched(settings, at: datetime) -> None:  # noqa: ANN001
    """busch_iii's last pitch at `at` (bronze pitches, partitioned by game date like the stream's)."""
    frame = pd.DataFrame({"tracking_system_id": ["busch_iii"], "event_time": [at], "game_date": [at.date()]})
    write_deltalake(settings.tables.pitches, frame, mode="overwrite", partition_by=["game_date"])


def test_sensor_recalibrates_a_drifting_system_at_a_break_in_play(settings):
    _bronze(settings, minutes=30)  # busch_iii at ~0.736: above 0.70, below 0.85
    platform = PlatformResource(home=str(settings.home))
    _pitched(settings, T0 + timedelta(minutes=29, seconds=30))  # pitching 30 s ago: not a break
    assert not calibration_sensor(dg.build_sensor_context(), platform=platform).run_requests
    _pitched(settings, T0 + timedelta(minutes=28))  # nothing for 2 min: a break
    (request,) = calibration_sensor(dg.build_sensor_context(), platform=platform).run_requests
    config = request.run_config["ops"]["record_calibration"]["config"]
    assert (request.tags["tracking_system_id"], config["trigger"]) == ("busch_iii", "scheduled")
    assert f"confidence {_expected_confidence(30):.3f} < 0.85 at a break in play (no pitch for 120 s" in config["reason"]


def test_recalibration_run_writes_a_valid_calibration_event_into_the_feed(settings):
    at = T0 + timedelta(minutes=61)
    result = recalibration.execute_in_process(
        run_config=dg.RunConfig(ops={"record_calibration": RecalibrationConfig(
            tracking_system_id="busch_iii", reason="coach asked", at=at.isoformat())}),
        resources={"platform": PlatformResource(home=str(settings.home))},
    )
    assert result.success
    files = list(settings.landing.glob("*.jsonl"))
    assert len(files) == 1
    event = FEED_EVENT.validate_python(json.loads(files[0].read_text()))
    assert (event.kind, event.tracking_system_id, event.trigger, event.event_time) == \
        ("calibration", "busch_iii", "manual", at)
    assert result.run_id in event.reason and "coach asked" in event.reason
    assert result.output_for_node("record_calibration") == event.calibration_id
