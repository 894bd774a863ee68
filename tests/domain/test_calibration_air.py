"""Hand-worked cases of the calibration decay and of air density."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from readiness_platform.domain.air import RHO_REF, adjusted_break, air_density, station_pressure_hpa
from readiness_platform.domain.calibration import Reading, SystemTimeline, decay_rate, needs_recalibration

T0 = datetime(2019, 7, 30, 23, 0)


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def test_decay_without_readings_halves_the_excess_every_45_minutes():
    timeline = SystemTimeline([T0], [])
    assert timeline.confidence(T0) == pytest.approx(0.95)
    assert timeline.confidence(minutes(45)) == pytest.approx(0.725)  # 0.50 + 0.45 / 2
    assert timeline.confidence(minutes(90)) == pytest.approx(0.6125)  # 0.50 + 0.45 / 4
    assert timeline.confidence(minutes(10_000)) == pytest.approx(0.50)  # the floor


def test_never_calibrated_is_the_floor():
    assert SystemTimeline([], []).confidence(T0) == 0.50


def test_wind_vibration_and_temperature_swing_speed_it_up():
    calm = Reading(T0, 20.0, 0.0, 0.0)
    assert decay_rate(calm, 20.0) == 1.0
    assert decay_rate(Reading(T0, 23.0, 10.0, 0.5), 20.0) == pytest.approx(1 + 0.4 + 0.25 + 0.24)
    windy = SystemTimeline([T0], [Reading(T0, 20.0, 10.0, 0.0)])  # rate 1.4 from the start
    assert windy.confidence(minutes(45)) == pytest.approx(0.5 + 0.45 * 2 ** (-1.4))
    assert needs_recalibration(windy.confidence(minutes(45)))  # 0.670 < 0.70
    assert not needs_recalibration(SystemTimeline([T0], []).confidence(minutes(45)))  # 0.725


def test_a_reading_counts_from_its_time_on():
    timeline = SystemTimeline([T0], [Reading(minutes(30), 20.0, 25.0, 0.0)])  # rate 2 after 30 min
    assert timeline.exposure_s(minutes(45)) == pytest.approx(30 * 60 + 2 * 15 * 60)


def test_a_calibration_resets_the_decay():
    timeline = SystemTimeline([T0, minutes(60)], [])
    assert timeline.confidence(minutes(59)) < 0.70
    assert timeline.confidence(minutes(60)) == pytest.approx(0.95)


def test_air_density_matches_the_standard_atmosphere():
    assert air_density(15.0, 0.0, 1013.25) == pytest.approx(1.2250, abs=5e-4)  # ISA sea level
    assert RHO_REF == pytest.approx(1.194, abs=2e-3)  # 70 F, 50 % humidity
    assert air_density(30.0, 90.0, 1013.25) < air_density(30.0, 10.0, 1013.25)  # moist air is lighter


def test_coors_field_air_is_about_82_percent_and_break_is_adjusted_back():
    coors = air_density(21.1, 50.0, elevation_m=1580.0)
    assert station_pressure_hpa(1580.0) == pytest.approx(837.4, abs=1.0)
    assert coors / RHO_REF == pytest.approx(0.826, abs=0.01)  # the README's ~82 % of sea level
    assert adjusted_break(12.0, coors) == pytest.approx(12.0 / (coors / RHO_REF))
    assert adjusted_break(None, coors) is None


def test_a_break_is_a_system_without_a_pitch_for_90_seconds():
    from readiness_platform.domain.calibration import idle_spans

    seconds = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    pitched = [seconds(s) for s in (0, 25, 50, 300)]  # 25 s apart, then 250 s without a pitch
    assert idle_spans(pitched, until=seconds(400)) == [(seconds(140), seconds(300)), (seconds(390), seconds(400))]
    assert idle_spans(pitched, until=seconds(380)) == [(seconds(140), seconds(300))]  # not 90 s after the last yet


def test_the_policy_recalibrates_at_a_break_below_085_and_on_its_own_below_070():
    from readiness_platform.domain.calibration import OPPORTUNISTIC_BELOW, idle_spans, recalibrations

    assert OPPORTUNISTIC_BELOW == 0.85
    # No readings: rate 1. 0.95 -> 0.85 takes 45 * log2(0.45 / 0.35) = 16.3 min; -> 0.70, 45 * log2(0.45/0.2) = 52.6 min.
    alone = recalibrations(T0, minutes(60), [])
    assert alone == [T0, minutes(53) + timedelta(seconds=120)]  # the 30 s check after 52.6 min, plus the response
    # Pitches every 30 s until 14 min, none until 18 min: idle from 15.5 min. At 16 min 0.852, at 16.5 min 0.849:
    # recalibrated then, landing 2 min later, and again on its own 52.6 min after that (past the hour: not here).
    pitched = [minutes(m / 2) for m in range(2, 29)] + [minutes(m / 2) for m in range(36, 121)]
    at_break = recalibrations(T0, minutes(60), [], idle=idle_spans(pitched, minutes(60)))
    assert at_break == [T0, minutes(18.5)]
