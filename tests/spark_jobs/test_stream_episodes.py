"""The stream's pitcher alert episodes (Delta alert_episodes) on a real game day: the episodes of the batch
recompute's rows, written exactly once, and the same after a restart in the middle of the games."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from deltalake import DeltaTable

import spark_jobs.stream.sinks as sinks
from readiness_platform.feature_store import stored_episodes
from readiness_platform.lakehouse import ensure_tables, forget_commit_cache
from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.settings import Settings, get_settings
from spark_jobs.baselines.main import corpus_pitches, write_baselines
from spark_jobs.recompute.main import recompute
from tests.conftest import GAME_DAY
from tests.spark_jobs.stream_helpers import COMPARED, naive, expected_transitions, run_to_end, written_transitions

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.services]
REDIS_DB = "redis://127.0.0.1:56379/14"  # the stream's announcements of this module (flushed first)


def _plan():  # noqa: ANN202
    return replay_plan([GAME_DAY], LagModel(seed=5))


def _files(settings: Settings) -> list[Path]:
    return sorted(Path(settings.landing).glob("*.jsonl"))


def _transitions(settings: Settings) -> list[tuple]:
    return written_transitions(settings.tables)


def _fresh(tmp: Path, spark) -> Settings:  # noqa: ANN001
    settings = get_settings(home=tmp, redis_url=REDIS_DB)
    ensure_tables(spark, settings.tables)
    write_baselines(spark, settings, corpus_pitches(spark, settings))
    return settings


@pytest.fixture(scope="module")
def day(spark, tmp_path_factory) -> Settings:  # noqa: ANN001
    """2020-09-03 (8 games, both teams) through the stream, one micro-batch per landing file, uninterrupted."""
    redis.Redis.from_url(REDIS_DB).flushdb()
    settings = _fresh(tmp_path_factory.mktemp("episodes-day"), spark)
    play(_plan(), LandingFolderSink(settings.landing), speedup=0, per_file=150, log=lambda _: None)
    sinks.forget_caches()
    run_to_end(spark, settings)
    return settings


def test_the_streams_episodes_are_the_episodes_of_the_batch_recompute(spark, day):
    expected = expected_transitions(r.asDict() for r in recompute(spark, day).collect())
    stream = _transitions(day)
    events = {t[1] for t in stream}
    assert events == {"opened", "escalated", "closed"}, events  # the day exercises every transition
    assert len(stream) == len(expected) > 20
    assert stream == sorted(expected)

    # the API's store (Redis): every episode of the day (all within a day of feed time) as its last
    # transition left it
    last = {}
    for t in sorted(expected, key=lambda t: (t[12], t[1] != "opened", t[1] == "closed")):
        last[t[0]] = t
    kept = stored_episodes(redis.Redis.from_url(REDIS_DB))
    assert kept.keys() == last.keys()
    assert {e: (b["event"], b["status"], b["level"], b["pitches"]) for e, b in kept.items()} == \
        {e: (t[1], t[7], t[5], t[15]) for e, t in last.items()}


def _spanning(rows: list[dict]) -> list[tuple[int, int]]:
    """(batch that opened it, batch of a later transition) of each episode that spans micro-batches."""
    opened = {r["episode_id"]: r["ingest_batch_id"] for r in rows if r["event"] == "opened"}
    return sorted((opened[r["episode_id"]], r["ingest_batch_id"]) for r in rows
                  if r["event"] != "opened" and r["ingest_batch_id"] > opened[r["episode_id"]])


def test_a_micro_batch_written_again_makes_the_same_transitions_and_writes_them_once(spark, day):
    table = DeltaTable(day.tables.alert_episodes).to_pyarrow_table().to_pylist()
    app_id = table[0]["ingest_app_id"]
    # the newest micro-batch that escalates or closes an episode opened in an earlier one: its transitions
    # come from the state the earlier micro-batches left, which a replay has to rebuild
    batch_id = max(later for _, later in _spanning(table))
    written = sorted(tuple(naive(r[c]) for c in COMPARED) for r in table if r["ingest_batch_id"] == batch_id)
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
    # the restart comes after the micro-batch (landing file) that opened an episode which a later one closes
    # or escalates, as far into the day as one does: the state at the restart holds episodes in play
    uninterrupted = DeltaTable(day.tables.alert_episodes).to_pyarrow_table().to_pylist()
    opened_in = max(first for first, later in _spanning(uninterrupted) if later > first + 1)
    landed = [r for name in ("pitches", "environment_readings", "calibration_events")
              for r in DeltaTable(day.tables.path(name)).to_pyarrow_table(columns=["ingest_batch_id", "source"]).to_pylist()]
    day_files = sorted({Path(r["source"]).name for r in landed})  # in the order they were written
    (last_file,) = {Path(r["source"]).name for r in landed if r["ingest_batch_id"] == opened_in}
    settings = _fresh(tmp_path_factory.mktemp("episodes-restart"), spark)
    play(_plan(), LandingFolderSink(settings.landing), speedup=0, per_file=150, log=lambda _: None)
    later = Path(f"{settings.landing}.later")
    later.mkdir()
    files = _files(settings)
    assert len(files) == len(day_files)
    for f in files[day_files.index(last_file) + 1:]:  # the files after it arrive after the restart
        f.rename(later / f.name)
    sinks.forget_caches()
    run_to_end(spark, settings)
    before = _transitions(settings)
    open_ = {t[0] for t in before if t[7] == "open"} - {t[0] for t in before if t[7] == "closed"}
    assert open_ & {t[0] for t in _transitions(day) if t[1] != "opened" and t not in before}, \
        "no episode in play across the restart: the test would prove nothing"

    sinks.forget_caches()  # as a restart would: the next micro-batch rebuilds the episode state from silver
    forget_commit_cache()
    for f in sorted(later.iterdir()):
        f.rename(Path(settings.landing) / f.name)
    run_to_end(spark, settings)
    assert _transitions(settings) == _transitions(day)
