"""Helpers of the stream tests: feed files written the way the replay writes them, the stream run to the
end, the alert episodes expected of scored rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from collections import defaultdict
from collections.abc import Iterable

from readiness_platform.domain.alerts import Alert
from readiness_platform.domain.episodes import episodes, pitcher_step
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.settings import Settings, Tables

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


# what a transition says (alert_episodes); recorded_at (wall clock) and the lineage differ between runs by design
COMPARED = ("episode_id", "event", "pitcher_id", "game_pk", "model_version", "level", "reasons", "status",
            "opened_at", "opened_at_bat_number", "opened_pitch_number", "escalated_at", "event_time",
            "at_bat_number", "pitch_number", "pitches")


def naive(v):  # noqa: ANN001, ANN202 - delta-rs reads timestamps as aware UTC
    return v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo is not None else v


def written_transitions(tables: Tables) -> list[tuple]:
    """The stream's alert_episodes rows (COMPARED columns), sorted."""
    from deltalake import DeltaTable

    rows = DeltaTable(tables.alert_episodes).to_pyarrow_table().to_pylist()
    return sorted(tuple(naive(r[c]) for c in COMPARED) for r in rows)


def expected_transitions(scored: Iterable[dict]) -> list[tuple]:
    """The transitions (COMPARED columns), sorted, that domain.episodes makes of scored rows: per (model version,
    pitcher, game) in pitch order, built here from the columns (not through the stream's EpisodeCache)."""
    groups = defaultdict(list)
    for r in scored:
        groups[(r["model_version"], r["pitcher_id"], r["game_pk"])].append(r)
    out = []
    for (version, pid, game), rows in groups.items():
        rows.sort(key=lambda r: (r["at_bat_number"], r["pitch_number"]))
        transitions, _ = episodes(f"pitcher/{version}/{pid}/{game}", [
            pitcher_step(r["event_time"], (r["game_pk"], r["at_bat_number"], r["pitch_number"]),
                         Alert(r["alert_level"], tuple(r["alert_reasons"])), r["readiness"]) for r in rows])
        for t in transitions:
            e = t.episode
            out.append((e.episode_id, t.event, pid, game, version, e.level, list(e.reasons), e.status,
                        e.opened_at, e.opened_pitch[1], e.opened_pitch[2], e.escalated_at, t.at,
                        t.pitch[1], t.pitch[2], e.steps))
    return sorted(out)
