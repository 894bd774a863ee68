from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from readiness_platform.transforms.contract import event_key, parse_feed, parse_line

pytestmark = pytest.mark.spark

PITCH = {
    "kind": "pitch", "schema_version": 1, "event_time": "2020-09-03T23:05:00Z", "game_pk": 631234,
    "at_bat_number": 1, "pitch_number": 2, "game_date": "2020-09-03", "pitcher_id": 656061,
    "home_team": "NYM", "away_team": "NYY", "pitch_family": "four_seam", "release_speed": 97.5,
    "release_spin_rate": None, "tracking_system_id": "citi_field", "ingest_time": "2026-11-29T10:00:00.250Z",
}


def line(**changes) -> str:
    return json.dumps({**PITCH, **changes})


def test_valid_pitch_is_typed_and_keyed():
    out = parse_line(line())
    assert out["valid"] and out["kind"] == "pitch" and "reason" not in out
    assert out["event_key"] == "pitch/631234/1/2"
    assert out["pitch"]["game_date"] == date(2020, 9, 3)
    assert out["pitch"]["release_spin_rate"] is None  # untracked, not zero


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "Invalid JSON"),
        (line(release_speed=250), "release_speed: Input should be less than or equal to 110 (got '250')"),
        (line(release_speed="fast"), "release_speed: Input should be a valid number"),
        (line(schema_version=7), "schema_version: Value error, unsupported schema_version 7 (supported: 1)"),
        (line(kind="hit"), "does not match any of the expected tags"),
        (json.dumps({k: v for k, v in PITCH.items() if k != "game_pk"}), "game_pk: Field required"),
        (line(event_time="2020-09-03T23:05:00"), "event_time: Value error, timestamps must carry a time zone"),
        (line(event_time=1599170000), "event_time: Value error, timestamps must be ISO-8601 strings with a time "
                                      "zone, e.g. 2020-09-03T23:05:00Z, not int '1599170000' (got '1599170000')"),
        (line(event_time="2099-01-01T00:00:00Z"), "Value error, event_time 2099-01-01T00:00:00Z is 26330 days, "
                                                  "14:00:00 ahead of its ingest_time 2026-11-29T10:00:00.250000Z"),
        (line(event_time="2020-09-05T23:05:00Z"), "Value error, event_time 2020-09-05T23:05:00Z is outside its "
                                                  "game's day (game_date 2020-09-03: "),
        (line(game_date=20200903), "game_date: Value error, dates must be ISO-8601 strings (YYYY-MM-DD)"),
    ],
)
def test_invalid_lines_say_why(raw, reason):
    out = parse_line(raw)
    assert not out["valid"]
    assert reason in out["reason"]


def test_a_refused_time_never_reaches_the_parsed_columns():
    """Quarantined lines carry no event time: the watermark is computed over `event_time`, and a null is
    no time at all to it."""
    for raw in (line(event_time=1599170000), line(event_time="2099-01-01T00:00:00Z")):
        out = parse_line(raw)
        assert not out["valid"] and out["kind"] == "pitch" and out.get("event_time") is None and "pitch" not in out


def test_keys_of_each_kind():
    t = datetime(2020, 9, 3, 23, 5)
    assert event_key("environment", {"tracking_system_id": "busch_iii", "event_time": t}) == \
        "environment/busch_iii/2020-09-03T23:05:00"
    assert event_key("calibration", {"calibration_id": "c-1"}) == "calibration/c-1"


def test_parse_feed_in_spark_keeps_every_line_and_its_lineage(spark):
    lines = [line(), line(pitch_number=3, release_speed=10), "garbage", line(kind="environment")]
    raw = spark.createDataFrame([(v, f"file-{i}") for i, v in enumerate(lines)], "value string, source string")
    rows = {r["source"]: r for r in parse_feed(raw).collect()}
    assert len(rows) == 4
    assert rows["file-0"]["valid"] and rows["file-0"]["pitch"]["release_speed"] == 97.5
    assert rows["file-0"]["event_time"] == datetime(2020, 9, 3, 23, 5) and rows["file-0"]["environment"] is None
    assert rows["file-1"]["kind"] == "pitch" and "release_speed" in rows["file-1"]["reason"]
    assert rows["file-2"]["kind"] is None and rows["file-2"]["value"] == "garbage"
    assert not rows["file-3"]["valid"] and rows["file-3"]["kind"] == "environment"
