"""The ingest stream end to end on a file source: late rows, duplicates, quarantine, and a real game day."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from tests.conftest import GAME_DAY
from tests.spark_jobs.stream_helpers import T0, pitch_line, run_to_end, write_files

pytestmark = pytest.mark.spark


def table(path: str) -> list[dict]:
    return DeltaTable(path).to_pyarrow_table().to_pylist()


def test_late_pitches_land_flagged_and_late_duplicates_are_dropped(spark, settings):
    write_files(settings.landing, [
        [pitch_line(1, 100), pitch_line(2, 160)],  # batch 0: the watermark becomes 153 s
        [pitch_line(3, 170)],  # batch 1: runs under batch 0's watermark for late rows (none yet)
        # batch 2 runs under watermark 153 s: pitch 4 (120 s) is late but new; pitch 1's copy is late and
        # already there; pitch 4 arrives twice
        [pitch_line(4, 120), pitch_line(1, 100), pitch_line(4, 120), "{broken"],
        [pitch_line(5, 155), pitch_line(6, 200)],  # batch 3: watermark 163 s; 155 s is late
    ])
    run_to_end(spark, settings)
    bronze = {p["pitch_number"]: p for p in table(settings.tables.pitches)}
    assert sorted(bronze) == [1, 2, 3, 4, 5, 6]
    assert {n for n, p in bronze.items() if p["is_late"]} == {4, 5}
    assert all((p["event_time"] <= p["watermark"]) == p["is_late"] for p in bronze.values())
    metrics = table(settings.tables.stream_metrics)
    assert sum(m["late_pitches"] for m in metrics) == 2
    assert sum(m["duplicates_dropped"] for m in metrics) == 2
    (bad,) = table(settings.tables.quarantine)
    assert bad["payload"] == "{broken" and bad["reason"].startswith("Invalid JSON")


def test_a_damaged_copy_that_arrives_first_never_wins_nor_moves_the_watermark(spark, settings):
    """The issue's poison: damaged copies of pitches 2 and 3 arrive before their clean retransmissions. Each
    copy goes to quarantine with its reason; the clean one lands, with its own time; no batch's watermark
    goes past the real pitches (newest - 7 s), so no later real pitch is flagged late."""
    copies = {
        # Unix seconds: lax parsing made it 21:53:20 UTC, and deduplication kept it
        pitch_line(2, 60, event_time=1599170000): "timestamps must be ISO-8601 strings",
        # a broken clock: the watermark jumped to 2098 and every later pitch was late
        pitch_line(3, 90, event_time="2099-01-01T00:00:00Z"): "ahead of its ingest_time",
        # a wrong date in a plausible format, behind the feed's clock: two days ahead of its game
        pitch_line(4, 120, event_time="2020-09-05T23:02:00+00:00"): "outside its game's day",
    }
    write_files(settings.landing, [
        [pitch_line(1, 30)],
        list(copies),  # batch 1: the damaged copies first
        [pitch_line(2, 60), pitch_line(3, 90), pitch_line(4, 120)],  # batch 2: the clean retransmissions
        [pitch_line(5, 150), pitch_line(6, 180)],  # later real pitches, under the watermarks of the above
        [pitch_line(7, 240)],
    ])
    run_to_end(spark, settings)

    bronze = {p["pitch_number"]: p for p in table(settings.tables.pitches)}
    assert sorted(bronze) == [1, 2, 3, 4, 5, 6, 7]
    for n, seconds in {2: 60, 3: 90, 4: 120}.items():
        assert bronze[n]["event_time"].replace(tzinfo=None) == (T0 + timedelta(seconds=seconds)).replace(tzinfo=None)
        assert bronze[n]["release_speed"] == 95.0 + n / 10
    assert not any(p["is_late"] for p in bronze.values())
    quarantine = {q["payload"]: q["reason"] for q in table(settings.tables.quarantine)}
    assert quarantine.keys() == copies.keys()
    for payload, reason in copies.items():
        assert reason in quarantine[payload], quarantine[payload]

    # Spark's own watermarks, read from the checkpoint: never past the newest real pitch - 7 s
    checkpoint = Path(settings.checkpoints) / "stream"
    batches = sorted(int(f.name) for f in (checkpoint / "offsets").iterdir() if f.name.isdigit())
    marks = [offsets_watermark_ms(checkpoint, b) for b in batches]
    newest = (T0 + timedelta(seconds=240 - 7)).timestamp() * 1000
    assert max(marks) == newest and marks == sorted(marks)
    metrics = table(settings.tables.stream_metrics)
    assert sum(m["late_pitches"] for m in metrics) == 0
    silver = [r for r in table(settings.tables.pitch_features) if r["pitch_number"] in (2, 3, 4)]
    assert silver and all(r["event_time"].replace(tzinfo=None) ==
                          (T0 + timedelta(seconds=30 * r["pitch_number"])).replace(tzinfo=None) for r in silver)


def test_each_line_is_parsed_once_and_every_branch_reads_its_shuffle(spark, settings, capsys):
    """The optimizer must not push a branch's filter or pruning below the parsed feed's shuffle (parsed_once):
    one Python parse in the plan, its exchange reused by the `unique` and `features` branches."""
    from spark_jobs.stream.main import start_stream

    write_files(settings.landing, [[pitch_line(1, 100), pitch_line(2, 160), "{broken"]])
    query = start_stream(spark, settings, available_now=True)
    try:
        query.awaitTermination(600)
        query.explain()
        (progress,) = [p for p in query.recentProgress if p["numInputRows"]]  # the batch with data (another only moves the watermark)
    finally:
        query.stop()
    plan = capsys.readouterr().out
    assert plan.count("MapInArrow") == 1, plan
    assert plan.count("ReusedExchange") == 2, plan
    assert progress["observedMetrics"]["feed"]["messages"] == 3 == progress["numInputRows"]


def offsets_watermark_ms(checkpoint: Path, batch_id: int) -> int:
    return json.loads((checkpoint / "offsets" / str(batch_id)).read_text().splitlines()[1])["batchWatermarkMs"]


def expected_late(plan, per_file: int, delay_s: float = 7.0) -> set[str]:
    """Which pitches Spark must call late, worked out from the files alone: file k is micro-batch k, and
    a row of batch k is late when at or behind (newest event time of files 0..k-2) - delay."""
    files = [plan[i:i + per_file] for i in range(0, len(plan), per_file)]
    newest, seen, late = [], set(), set()
    for k, messages in enumerate(files):
        cutoff = max(newest[: k - 1], default=None) if k >= 2 else None
        for d in messages:
            if d.corruption or (d.kind, d.key) in seen:
                continue
            seen.add((d.kind, d.key))
            if d.kind == "pitch" and cutoff is not None and (cutoff - d.event_time).total_seconds() >= delay_s:
                late.add(d.key)
        newest.append(max(d.event_time for d in messages if not d.corruption))
    return late


def test_a_real_game_day_lands_exactly_once(spark, settings):
    # Late messages here come 1-2 h late (a camera buffer flushed after a reconnect): a 200-message file
    # spans ~16 min of this feed, and a row is late for Spark only behind the previous batch's watermark.
    plan = replay_plan([GAME_DAY], LagModel(seed=3, late_extra_s=(3600.0, 7200.0)))
    # 200 messages a file, one file a micro-batch: the batches are the same on every run
    play(plan, LandingFolderSink(settings.landing), speedup=0, per_file=200, log=lambda _: None)
    run_to_end(spark, settings)

    bronze = table(settings.tables.pitches)
    keys = Counter((p["game_pk"], p["at_bat_number"], p["pitch_number"]) for p in bronze)
    assert len(keys) == 2507 and set(keys.values()) == {1}
    expected = {}
    for d in plan:
        if d.kind == "pitch" and not d.corruption:
            record = json.loads(d.payload)
            expected[(record["game_pk"], record["at_bat_number"], record["pitch_number"])] = record
    assert set(keys) == set(expected)
    for p in bronze:
        src = expected[(p["game_pk"], p["at_bat_number"], p["pitch_number"])]
        assert (p["release_speed"], p["pfx_x"], p["pitcher_id"]) == \
            (src["release_speed"], src["pfx_x"], src["pitcher_id"])

    quarantine = table(settings.tables.quarantine)
    damaged = Counter(d.payload for d in plan if d.corruption)
    assert len(quarantine) == sum(damaged.values())
    assert all(q["reason"] for q in quarantine)
    assert sum(1 for q in quarantine if q["payload"].split(',"ingest_time"')[0] + "}" in damaged
               or q["payload"] in damaged) == len(quarantine)

    # late: flagged by Spark's own watermark for late events, the previous batch's (read here from the
    # checkpoint independently of the writer), and all counted
    checkpoint = Path(settings.checkpoints) / "stream"
    late = [p for p in bronze if p["is_late"]]
    assert {f"{p['game_pk']}/{p['at_bat_number']}/{p['pitch_number']}" for p in late} == expected_late(plan, 200)
    for p in bronze:
        b = p["ingest_batch_id"]
        expected_ms = offsets_watermark_ms(checkpoint, b - 1) if b > 0 else 0
        assert int(p["watermark"].timestamp() * 1000) == expected_ms
        assert p["is_late"] == (p["event_time"] <= p["watermark"])
    metrics = table(settings.tables.stream_metrics)
    assert sum(m["late_pitches"] for m in metrics) == len(late)
    assert sum(m["pitches_written"] for m in metrics) == 2507
    clean = [d for d in plan if not d.corruption]
    assert sum(m["duplicates_dropped"] for m in metrics) == len(clean) - len({(d.kind, d.key) for d in clean})
    assert len(table(settings.tables.calibration_events)) == 8

    # analysts read bronze without Spark: delta-rs, and DuckDB over it
    arrow = DeltaTable(settings.tables.pitches).to_pyarrow_table()
    assert duckdb.sql("select count(distinct (game_pk, at_bat_number, pitch_number)) from arrow").fetchall() == [(2507,)]


def test_a_stream_started_again_on_a_new_checkpoint_at_the_same_path_writes(spark, settings):
    """Deleting the tables and checkpoint and starting again in the same process is a new query with a
    new id: nothing of the first may make its batches look already committed."""
    import shutil

    for _ in range(2):
        shutil.rmtree(settings.home, ignore_errors=True)
        write_files(settings.landing, [[pitch_line(1, 10)], [pitch_line(2, 20)]])
        run_to_end(spark, settings)
        assert sorted(p["pitch_number"] for p in table(settings.tables.pitches)) == [1, 2]


def test_a_checkpoint_of_another_state_layout_is_refused_before_the_stream_starts(spark, settings):
    """Spark would resume the pitchers' state of another layout without a word (the key's type is the same)
    and start every pitcher afresh: the checkpoint names its layout, and the stream refuses another."""
    from readiness_platform.checkpoint import LAYOUT_FILE, CheckpointLayoutError
    from readiness_platform.transforms.features import STATE_LAYOUTS
    from spark_jobs.stream.main import start_stream

    write_files(settings.landing, [[pitch_line(1, 10)]])
    run_to_end(spark, settings)
    marker = Path(settings.checkpoints, "stream", LAYOUT_FILE)
    assert marker.read_text().strip() == STATE_LAYOUTS[settings.state_processor]  # a new checkpoint is named
    write_files(settings.landing, [[pitch_line(2, 20)]])
    run_to_end(spark, settings)  # the same layout resumes
    assert sorted(p["pitch_number"] for p in table(settings.tables.pitches)) == [1, 2]

    marker.write_text("a layout of some other version\n")
    marker.with_name(f".{LAYOUT_FILE}.crc").unlink()  # Hadoop's checksum of the file (written through Spark)
    with pytest.raises(CheckpointLayoutError, match="a layout of some other version.*new checkpoint"):
        start_stream(spark, settings, available_now=True)
    marker.unlink()  # a checkpoint made before layouts were named: batches, no name
    with pytest.raises(CheckpointLayoutError, match="a key per pitcher"):
        start_stream(spark, settings, available_now=True)
    assert not marker.exists() and not spark.streams.active
