"""Helpers of the ingest tests: feed files written the way the replay writes them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.settings import Settings

T0 = datetime(2020, 9, 3, 23, 0, tzinfo=timezone.utc)


def pitch_line(pitch_number: int, seconds: float, at_bat: int = 1, **extra) -> str:
    record = {
        "kind": "pitch", "schema_version": 1, "event_time": (T0 + timedelta(seconds=seconds)).isoformat(),
        "game_pk": 631234, "at_bat_number": at_bat, "pitch_number": pitch_number, "game_date": "2020-09-03",
        "pitcher_id": 656061, "home_team": "NYM", "away_team": "NYY", "pitch_family": "four_seam",
        "release_speed": 95.0 + pitch_number / 10, "tracking_system_id": "citi_field",
        "ingest_time": datetime.now(timezone.utc).isoformat(),
    }
    record.update(extra)
    return json.dumps(record)


def write_files(landing: Path, files: list[list[str]]) -> None:
    sink = LandingFolderSink(landing)
    for lines in files:
        sink.write(lines)


def run_to_end(spark, settings: Settings, timeout_s: float = 600) -> None:  # noqa: ANN001
    """One micro-batch per landing file, until the folder is drained."""
    from spark_jobs.stream.main import start_stream

    query = start_stream(spark, settings.model_copy(update={"max_files_per_trigger": 1}), available_now=True)
    try:
        query.awaitTermination(timeout_s)
        assert query.exception() is None
    finally:
        query.stop()
