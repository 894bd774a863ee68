"""The stream's pitcher alert episodes (Delta alert_episodes) on a real game day: the episodes of the batch
recompute's rows, written exactly once, and the same after a restart in the middle of the games."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from deltalake import DeltaTable

import spark_jobs.stream.sinks as sinks
from readiness_platform.domain.alerts import Alert
from readiness_platform.domain.episodes import episodes, pitcher_step
from readiness_platform.lakehouse import ensure_tables, forget_commit_cache
from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.settings import Settings, get_settings
from spark_jobs.baselines.main import corpus_pitches, write_baselines
from spark_jobs.recompute.main import recompute
from tests.conftest import GAME_DAY
from tests.spark_jobs.stream_helpers import run_to_end

pytestmark = [pytest.mark.spark, pytest.mark.slow]
# what a transition says; recorded_at (wall clock) and the lineage differ between runs by design
COMPARED = ("episode_id", "event", "pitcher_id", "game_pk", "model_version", "level", "reasons", "status",
            "opened_at", "opened_at_bat_number", "opened_pitch_number", "escalated_at", "event_time",
            "at_bat_number", "pitch_number", "pitches")


def _plan():  # noqa: ANN202
    return replay_plan([GAME_DAY], LagModel(seed=5))


def _files(settings: Settings) -> list[Path]:
    return sorted(Path(settings.landing).glob("*.jsonl"))


def _transitions(settings: Settings) -> list[tuple]:
    rows = DeltaTable(settings.tables.alert_episodes).to_pyarrow_table().to_pylist()
    return sorted(tuple(_naive(r[c]) for c in COMPARED) for r in rows)


def _naive(v):  # noqa: ANN001, ANN202 - delta-rs reads timestamps as aware UTC
    return v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo is not None else v


def _fresh(tmp: Path, spark) -> Settings:  # noqa: ANN001
    settings = get_settings(home=tmp)
    ensure_tables(spark, settings.tables)
    write_baselines(spark, settings, corpus_pitches(spark, settings))
    return settings


@pytest.fixture(scope="module")
def day(spark, tmp_path_factory) -> Settings:  # noqa: ANN001
    """2020-09-03 (8 games, both teams) through the stream, one micro-batch per landing file, uninterrupted."""
    settings = _fresh(tmp_path_factory.mktemp("episodes-day"), spark)
    play(_plan(), LandingFolderSink(settings.landing), speedup=0, per_file=150, log=lambda _: None)
    sinks.forget_caches()
    run_to_end(spark, settings)
    return settings


def test_the_streams_episodes_are_the_episodes_of_the_batch_recompute(spark, day):
    # expected: domain.episodes over the recompute's rows, per (model version, pitcher, game) in pitch order,
    # built here from the columns (not through the stream's EpisodeCache)
    groups = defaultdict(list)
    for r in recompute(spark, day).collect():
        groups[(r["model_version"], r["pitcher_id"], r["game_pk"])].append(r)
    expected = []
    for (version, pid, game), rows in groups.items():
        rows.sort(key=lambda r: (r["at_bat_number"], r["pitch_number"]))
        transitions, _ = episodes(f"pitcher/{version}/{pid}/{game}", [
            pitcher_step(r["event_time"], (r["game_pk"], r["at_bat_number"], r["pitch_number"]),
                         Alert(r["alert_level"], tuple(r["alert_reasons"])), r["readiness"]) for r in rows])
        for t in transitions:
            e = t.episode
            expected.append((e.episode_id, t.event, pid, game, version, e.level, list(e.reasons), e.status,
                             e.opened_at, e.opened_pitch[1], e.opened_pitch[2], e.escalated_at, t.at,
                             t.pitch[1], t.pitch[2], e.steps))
    stream = _transitions(day)
    events = {t[1] for t in stream}
    assert events == {"opened", "escalated", "closed"}, events  # the day exercises every transition
    assert len(stream) == len(expected) > 20
    assert stream == sorted(expected)


def test_a_micro_batch_written_again_makes_the_same_transitions_and_writes_them_once(spark, day):
    table = DeltaTable(day.tables.alert_episodes).to_pyarrow_table().to_pylist()
    app_id = table[0]["ingest_app_id"]
    batch_id = max(r["ingest_batch_id"] for r in table)  # the newest micro-batch with a transition
    written = sorted(tuple(_naive(r[c]) for c in COMPARED) for r in table if r["ingest_batch_id"] == batch_id)
    final = [r.asDict() for r in spark.read.format("delta").load(day.tables.pitch_features)
             .where(f"ingest_batch_id = {batch_id}").collect()]
    # its final rows once more: in the same process (the cache is past it), then as after a restart
    for restart in (False, True):
        if restart:
            sinks.forget_caches()
            forget_commit_cache()
        again = sinks.alert_episode_rows(spark, day.tables, app_id, batch_id, final)
        assert sorted(tuple(r[c] for c in COMPARED) for r in again) == written
        assert sinks.write_episodes(again, day.tables, app_id, batch_id).skipped
    assert len(DeltaTable(day.tables.alert_episodes).to_pyarrow_table()) == len(table)


def test_a_restart_in_the_middle_of_the_games_makes_the_transitions_of_an_uninterrupted_run(spark, day,
                                                                                            tmp_path_factory):
    settings = _fresh(tmp_path_factory.mktemp("episodes-restart"), spark)
    play(_plan(), LandingFolderSink(settings.landing), speedup=0, per_file=150, log=lambda _: None)
    later = Path(f"{settings.landing}.later")
    later.mkdir()
    files = _files(settings)
    for f in files[len(files) // 2:]:  # the second half of the day's files arrive after the restart
        f.rename(later / f.name)
    sinks.forget_caches()
    run_to_end(spark, settings)
    before = _transitions(settings)
    open_ = {t[0] for t in before if t[7] == "open"} - {t[0] for t in before if t[7] == "closed"}
    assert open_, "no episode open at the restart: the test would prove nothing"

    sinks.forget_caches()  # as a restart would: the next micro-batch rebuilds the episode state from silver
    forget_commit_cache()
    for f in sorted(later.iterdir()):
        f.rename(Path(settings.landing) / f.name)
    run_to_end(spark, settings)
    assert _transitions(settings) == _transitions(day)
