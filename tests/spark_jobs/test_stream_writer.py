"""The ingest writer called directly: idempotent per batch, and exact after a crash in the middle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

import spark_jobs.stream.sinks as sinks
from readiness_platform.lakehouse import ensure_tables, forget_commit_cache
from readiness_platform.transforms.contract import parse_feed
from spark_jobs.stream.main import branches
from tests.spark_jobs.stream_helpers import pitch_line

pytestmark = pytest.mark.spark

LINES = [
    pitch_line(1, 0), pitch_line(2, 25), pitch_line(2, 25),  # a duplicate
    pitch_line(3, 50, release_speed=300), "not json at all",  # two for quarantine
    json.dumps({"kind": "calibration", "schema_version": 1, "event_time": "2020-09-03T22:30:00Z",
                "calibration_id": "citi-pregame", "tracking_system_id": "citi_field", "trigger": "pregame"}),
]


def fake_checkpoint(path: Path, batch_id: int) -> str:
    """A checkpoint folder as Spark leaves it before running `batch_id` (query id, offsets log)."""
    (path / "offsets").mkdir(parents=True, exist_ok=True)
    (path / "metadata").write_text(json.dumps({"id": "00000000-test-query"}))
    for b in range(batch_id + 1):
        (path / "offsets" / str(b)).write_text('v1\n{"batchWatermarkMs":0,"batchTimestampMs":1764000000000}\n{}\n')
    return str(path)


def batch(spark):
    raw = spark.createDataFrame([(v, f"f{i}") for i, v in enumerate(LINES)], "value string, source string")
    return branches(parse_feed(raw), 7.0)


def rows(path: str) -> list[dict]:
    return DeltaTable(path).to_pyarrow_table().to_pylist()


def test_same_batch_twice_writes_once(spark, settings, tmp_path):
    ensure_tables(spark, settings.tables)
    cp = fake_checkpoint(tmp_path / "cp", 0)
    sinks.write_stream_batch(batch(spark), 0, tables=settings.tables, checkpoint=cp)
    forget_commit_cache()  # as if the process had restarted
    sinks.write_stream_batch(batch(spark), 0, tables=settings.tables, checkpoint=cp)
    pitches = rows(settings.tables.pitches)
    assert sorted(p["pitch_number"] for p in pitches) == [1, 2]
    assert len(rows(settings.tables.quarantine)) == 2
    assert len(rows(settings.tables.calibration_events)) == 1
    (metrics,) = rows(settings.tables.stream_metrics)
    assert (metrics["rows_in"], metrics["pitches_written"], metrics["duplicates_dropped"], metrics["quarantined"]) == \
        (6, 2, 1, 2)


def test_a_crash_between_commits_is_finished_by_the_replay_with_the_same_figures(spark, settings, tmp_path, monkeypatch):
    ensure_tables(spark, settings.tables)
    cp = fake_checkpoint(tmp_path / "cp", 0)
    real_append = sinks.append_once

    def crash_on_metrics(df, path, *args, **kwargs):
        if path == settings.tables.stream_metrics:
            raise RuntimeError("killed after the data commits")
        return real_append(df, path, *args, **kwargs)

    monkeypatch.setattr(sinks, "append_once", crash_on_metrics)
    with pytest.raises(RuntimeError):
        sinks.write_stream_batch(batch(spark), 0, tables=settings.tables, checkpoint=cp)
    assert len(rows(settings.tables.pitches)) == 2 and not rows(settings.tables.stream_metrics)

    monkeypatch.setattr(sinks, "append_once", real_append)
    forget_commit_cache()
    sinks.write_stream_batch(batch(spark), 0, tables=settings.tables, checkpoint=cp)
    assert len(rows(settings.tables.pitches)) == 2
    (metrics,) = rows(settings.tables.stream_metrics)
    # the figures of an uninterrupted run: the replay does not count its own earlier writes as duplicates
    assert (metrics["pitches_written"], metrics["duplicates_dropped"], metrics["quarantined"]) == (2, 1, 2)


def test_the_streams_own_sql_settings_hold_for_its_query_and_leave_the_session_as_it_was(spark, tmp_path):
    """spark_jobs.stream.main.STREAM_CONF: set for the query's start (it runs in a copy of the session made
    then), and put back on the session afterwards."""
    from readiness_platform.spark import session_conf
    from spark_jobs.stream.main import STREAM_CONF

    key = "spark.sql.codegen.wholeStage"
    assert STREAM_CONF[key] == "false" and spark.conf.get(key) == "true"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("x\ny\n")
    seen = []
    with session_conf(spark, STREAM_CONF):
        query = (spark.readStream.text(str(tmp_path / "in")).writeStream
                 .foreachBatch(lambda df, _: seen.append((df.sparkSession.conf.get(key), df.count())))
                 .option("checkpointLocation", str(tmp_path / "cp")).trigger(availableNow=True).start())
    assert spark.conf.get(key) == "true"  # the session again as it was
    query.awaitTermination(60)
    assert seen == [("false", 2)]  # while the query ran with the stream's own


def test_the_metrics_row_is_committed_in_the_background_and_a_stop_in_between_loses_and_doubles_nothing(
        spark, settings, tmp_path, monkeypatch):
    """sinks.MetricsCommitter: the row is saved in the checkpoint, committed by its thread, the file removed.
    A process that stops before the commit, or after it and before the file is removed, leaves the file:
    the next start commits it once (append_once skips what is in already). A save cut short is dropped
    (its micro-batch had not returned, so Spark runs it again)."""
    ensure_tables(spark, settings.tables)
    cp = fake_checkpoint(tmp_path / "cp", 2)
    folder = Path(cp) / sinks.MetricsCommitter.FOLDER

    def files() -> list[str]:
        return sorted(p.name for p in folder.iterdir())

    committer = sinks.MetricsCommitter(cp, settings.tables)
    sinks.write_stream_batch(batch(spark), 0, tables=settings.tables, checkpoint=cp, metrics=committer)
    committer.wait()
    assert [m["batch_id"] for m in rows(settings.tables.stream_metrics)] == [0] and not files()

    stopped = sinks.MetricsCommitter(cp, settings.tables)  # stops before its commits
    monkeypatch.setattr(stopped, "_commit", lambda *args: None)
    stopped.submit(DeltaTable(settings.tables.stream_metrics).to_pyarrow_table())  # batch 0 again: committed already
    sinks.write_stream_batch(batch(spark), 1, tables=settings.tables, checkpoint=cp, metrics=stopped)
    (folder / "2.arrow.part").write_bytes(b"cut short")
    assert files() == ["0.arrow", "1.arrow", "2.arrow.part"]
    assert len(rows(settings.tables.stream_metrics)) == 1

    forget_commit_cache()  # a new process
    restarted = sinks.MetricsCommitter(cp, settings.tables)
    assert restarted.recover() == 2
    saved = rows(settings.tables.stream_metrics)
    assert sorted(m["batch_id"] for m in saved) == [0, 1] and not files()
    assert [m["pitches_written"] for m in saved] == [2, 2]
    assert restarted.recover() == 0
