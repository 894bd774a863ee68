from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from readiness_platform.domain.events import (
    FEED_EVENT,
    CalibrationEvent,
    EnvironmentReading,
    TrackedPitch,
    feed_json_schema,
    game_day_window,
)
from readiness_platform.domain.pitch_types import PitchFamily, family_of

UTC = timezone.utc


def pitch(**overrides) -> TrackedPitch:
    values = dict(
        game_pk=631234, at_bat_number=3, pitch_number=2, game_date=date(2020, 9, 3),
        event_time=datetime(2020, 9, 3, 23, 5, tzinfo=UTC), pitcher_id=656061, home_team="NYM",
        away_team="NYY", pitch_type="FF", pitch_family=PitchFamily.FOUR_SEAM, release_speed=97.5,
        release_spin_rate=2261.0, tracking_system_id="citi_field",
    )
    values.update(overrides)
    return TrackedPitch(**values)


def test_pitch_round_trips_through_its_json_line():
    p = pitch()
    assert FEED_EVENT.validate_json(p.model_dump_json()) == p
    assert p.key == (631234, 3, 2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("release_speed", 110.5, "less than or equal to 110"),
        ("release_speed", 39.9, "greater than or equal to 40"),
        ("release_spin_rate", 4000.1, "less than or equal to 4000"),
        ("pitch_number", 0, "greater than or equal to 1"),
        ("tracking_system_id", "Busch III", "should match pattern"),
        ("pitch_family", "knuckle-curve", "Input should be"),
    ],
)
def test_pitch_outside_the_contract_is_refused_with_the_field_named(field, value, message):
    with pytest.raises(ValidationError) as err:
        pitch(**{field: value})
    assert err.value.errors()[0]["loc"] == (field,)
    assert message in str(err.value)


def test_untracked_pitch_is_valid_and_says_so():
    p = pitch(release_speed=None, release_spin_rate=None, pitch_type=None, pitch_family=PitchFamily.UNKNOWN)
    assert not p.is_tracked
    assert pitch().is_tracked


def test_times_must_carry_a_zone_and_are_kept_in_utc():
    with pytest.raises(ValidationError, match="time zone"):
        pitch(event_time=datetime(2020, 9, 3, 23, 5))
    local = datetime(2020, 9, 3, 19, 5, tzinfo=timezone(timedelta(hours=-4)))
    assert pitch(event_time=local).event_time == datetime(2020, 9, 3, 23, 5, tzinfo=UTC)


def pitch_json(**overrides) -> str:
    record = json.loads(pitch().model_dump_json())
    record.update(overrides)
    return json.dumps(record)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_time", 1599170000),  # Unix seconds: lax pydantic made it 2020-09-03T21:53:20Z
        ("event_time", 1599170000.5),
        ("event_time", "1599170000"),  # digits in a string: read as Unix seconds too
        ("event_time", "2020-09-03"),  # a date is not a time
        ("event_time", True),
        ("ingest_time", 1599170000),
        ("game_date", 18508),  # days since 1970: 2020-09-03
        ("game_date", "2020-09-03T00:00:00Z"),
    ],
)
def test_times_and_dates_must_be_iso_8601_text_never_numbers(field, value):
    with pytest.raises(ValidationError, match="must be ISO-8601 strings") as err:
        FEED_EVENT.validate_json(pitch_json(**{field: value}))
    assert err.value.errors()[0]["loc"] == ("pitch", field)
    with pytest.raises(ValidationError, match="must be ISO-8601 strings"):
        pitch(**{field: value})  # the same in Python


def test_iso_8601_times_with_any_zone_notation_are_read():
    for text in ("2020-09-03T23:05:00Z", "2020-09-03T23:05:00+00:00", "2020-09-03T19:05:00-04:00",
                 "2020-09-03T23:05:00.250Z", "2020-09-03T23:05Z"):
        event = FEED_EVENT.validate_json(pitch_json(event_time=text))
        assert event.event_time.replace(microsecond=0) == datetime(2020, 9, 3, 23, 5, tzinfo=UTC)


def calibration(event_time: str, ingest_time: str | None) -> str:
    return json.dumps({"kind": "calibration", "event_time": event_time, "ingest_time": ingest_time,
                       "calibration_id": "c1", "tracking_system_id": "busch_iii", "trigger": "pregame"})


def test_an_event_may_be_at_most_five_minutes_ahead_of_its_ingest_time():
    ingest = "2026-11-29T10:00:00Z"
    assert FEED_EVENT.validate_json(calibration("2026-11-29T10:05:00Z", ingest))  # 5 min: clock skew
    assert FEED_EVENT.validate_json(calibration("2020-09-03T23:00:00Z", ingest))  # the past: a replay, a late one
    with pytest.raises(ValidationError, match=r"event_time 2026-11-29T10:05:01Z is 0:05:01 ahead of its "
                                              r"ingest_time 2026-11-29T10:00:00Z \(at most 0:05:00 allowed\)"):
        FEED_EVENT.validate_json(calibration("2026-11-29T10:05:01Z", ingest))
    with pytest.raises(ValidationError, match="ahead of its ingest_time"):  # the poison
        FEED_EVENT.validate_json(calibration("2099-01-01T00:00:00Z", ingest))
    # an event not yet delivered (a producer's own record) has no feed clock to be checked against
    assert FEED_EVENT.validate_json(calibration("2099-01-01T00:00:00Z", None))


def test_the_game_day_window_is_the_local_day_anywhere_plus_fourteen_hours():
    assert game_day_window(date(2020, 9, 3)) == (datetime(2020, 9, 2, 10, tzinfo=UTC), datetime(2020, 9, 4, 14, tzinfo=UTC))


@pytest.mark.parametrize(
    ("event_time", "valid"),
    [
        (datetime(2020, 9, 2, 10, 0, 0, tzinfo=UTC), True),  # first instant of the window
        (datetime(2020, 9, 2, 9, 59, 59, tzinfo=UTC), False),
        (datetime(2020, 9, 4, 14, 0, 0, tzinfo=UTC), True),  # last instant
        (datetime(2020, 9, 4, 14, 0, 1, tzinfo=UTC), False),
        # a 13:05 game in Tokyo (UTC+9) on its local date: 04:05 UTC
        (datetime(2020, 9, 3, 4, 5, tzinfo=UTC), True),
        # a 19:10 game in Los Angeles (UTC-7) that went 15 innings: 02:10 UTC the next day, over at ~07:30
        (datetime(2020, 9, 4, 7, 30, tzinfo=UTC), True),
        # the previous or the next day's game under this date: a producer's wrong date or clock
        (datetime(2020, 9, 2, 2, 10, tzinfo=UTC), False),
        (datetime(2020, 9, 4, 23, 5, tzinfo=UTC), False),
        (datetime(2099, 1, 1, tzinfo=UTC), False),
    ],
)
def test_a_pitch_lies_within_its_game_day(event_time, valid):
    if valid:
        assert pitch(event_time=event_time).event_time == event_time
    else:
        with pytest.raises(ValidationError, match=r"outside its game's day \(game_date 2020-09-03: "
                                                  r"2020-09-02T10:00:00Z to 2020-09-04T14:00:00Z\)"):
            pitch(event_time=event_time)


def test_unknown_schema_version_is_refused():
    with pytest.raises(ValidationError, match="unsupported schema_version 2"):
        pitch(schema_version=2)


def test_environment_reading_needs_pressure_or_elevation():
    base = dict(event_time=datetime(2020, 9, 3, tzinfo=UTC), tracking_system_id="busch_iii", temperature_c=25,
                relative_humidity_pct=50, wind_speed_mph=5, wind_direction_deg=90, vibration_mm_s=0.3)
    assert EnvironmentReading(**base, elevation_m=142).pressure_hpa is None
    assert EnvironmentReading(**base, pressure_hpa=995).elevation_m is None
    with pytest.raises(ValidationError, match="pressure_hpa, elevation_m"):
        EnvironmentReading(**base)


def test_calibration_trigger_is_one_of_the_known_reasons():
    kwargs = dict(event_time=datetime(2020, 9, 3, tzinfo=UTC), calibration_id="c1", tracking_system_id="busch_iii")
    assert CalibrationEvent(**kwargs, trigger="manual").trigger == "manual"
    with pytest.raises(ValidationError):
        CalibrationEvent(**kwargs, trigger="because")


def test_published_json_schema_is_the_models_schema():
    published = Path(__file__).parents[2] / "readiness_platform/domain/schemas/feed_event.v1.json"
    assert json.loads(published.read_text()) == feed_json_schema(), "regenerate with: readiness schema > ..."


@pytest.mark.parametrize(
    ("label", "family"),
    [("FF", PitchFamily.FOUR_SEAM), ("FT", PitchFamily.SINKER), ("SI", PitchFamily.SINKER),
     ("ST", PitchFamily.SLIDER), ("KC", PitchFamily.CURVE), ("FS", PitchFamily.SPLITTER),
     ("EP", PitchFamily.OTHER), ("ZZ", PitchFamily.OTHER), (None, PitchFamily.UNKNOWN), ("null", PitchFamily.UNKNOWN)],
)
def test_pitch_labels_map_to_families_across_the_years(label, family):
    assert family_of(label) is family


def test_domain_imports_no_framework():
    code = (
        "import sys, readiness_platform.domain.events, readiness_platform.domain.contract, "
        "readiness_platform.domain.venues, readiness_platform.domain.errors\n"
        "bad = [m for m in ('pyspark', 'dagster', 'feast', 'fastapi', 'redis', 'mlflow', 'great_expectations')"
        " if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
