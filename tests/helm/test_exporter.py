"""The exporter against small real Delta tables (written with delta-rs in the lakehouse's own schemas):
what /metrics exposes is what the rows say."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pyspark.sql.pandas.types import to_arrow_schema

from readiness_platform.exporter import LakehouseCollector, build_registry
from readiness_platform.lakehouse import table_specs
from readiness_platform.settings import Tables

NOW = datetime(2026, 6, 1, 20, 0, tzinfo=timezone.utc)
T0 = datetime(2026, 6, 1, 19, 0, tzinfo=timezone.utc)


def append(tables: Tables, name: str, rows: list[dict]) -> None:
    """Append rows to the table as the stream would (one commit, one file); unset columns are null."""
    schema = to_arrow_schema(table_specs()[name].schema, timezone="UTC")
    write_deltalake(tables.path(name), pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows],
                                                            schema=schema), mode="append")


def batch(batch_id: int, committed_at: datetime, **values: object) -> dict:
    row = {"query": "stream", "app_id": "stream-test", "batch_id": batch_id, "batch_time": committed_at,
           "committed_at": committed_at, "rows_in": 0, "pitches_in": 0, "pitches_written": 0,
           "duplicates_dropped": 0, "quarantined": 0, "late_rows": 0, "late_pitches": 0, "environment_rows": 0,
           "calibration_rows": 0, "batch_duration_s": 0.0}
    return row | values


def gold(pitcher_id: int, version: str, updated_at: datetime, **values: object) -> dict:
    row = {"game_pk": 1, "at_bat_number": 1, "pitch_number": 1, "model_version": version, "pitcher_id": pitcher_id,
           "game_date": updated_at.date(), "event_time": updated_at - timedelta(seconds=4), "updated_at": updated_at,
           "pitch_count_game": 30, "late_fraction": 0.0, "calibration_confidence": 0.9, "readiness": 90.0,
           "fatigue": 10.0, "risk": 12.0, "alert_level": "ok"}
    return row | values


def scrape(collector: LakehouseCollector) -> dict[tuple[str, frozenset], float]:
    text = generate_latest(build_registry(collector)).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: dict, prefix: str) -> set[tuple[str, frozenset]]:
    return {k for k in samples if k[0] == prefix}


@pytest.fixture
def lakehouse(tmp_path: Path) -> Tables:
    tables = Tables(str(tmp_path / "lakehouse"))
    append(tables, "stream_metrics", [
        batch(0, T0, rows_in=100, pitches_in=40, pitches_written=38, duplicates_dropped=2, quarantined=3,
              late_rows=1, late_pitches=1, late_fraction=1 / 38, batch_duration_s=2.5, latency_p50_s=3.0,
              latency_p99_s=4.0, latency_max_s=4.5, readiness_latency_p50_s=3.5, readiness_latency_p99_s=5.0,
              watermark=T0 - timedelta(seconds=20), max_event_time=T0 - timedelta(seconds=5))])
    append(tables, "stream_metrics", [
        batch(1, T0 + timedelta(seconds=10), rows_in=50, pitches_in=20, pitches_written=20, quarantined=1,
              late_rows=6, late_pitches=5, late_fraction=0.25, batch_duration_s=1.5, latency_p50_s=2.0,
              latency_p99_s=3.0, latency_max_s=3.5, readiness_latency_p50_s=2.5, readiness_latency_p99_s=3.5,
              watermark=T0 - timedelta(seconds=8), max_event_time=T0 + timedelta(seconds=5)),
        # newest, but a batch of environment readings only: no latencies, no late fraction
        batch(2, T0 + timedelta(seconds=20), rows_in=4, environment_rows=4, batch_duration_s=0.5,
              watermark=T0 - timedelta(seconds=8), max_event_time=T0 + timedelta(seconds=6))])
    append(tables, "pitcher_readiness", [
        gold(1, "v1", NOW - timedelta(minutes=1), readiness=55.0, fatigue=60.0, risk=40.0, velo_delta_mph=-2.5,
             late_fraction=0.1, calibration_confidence=0.72, alert_level="critical"),
        gold(1, "v2", NOW - timedelta(minutes=1), readiness=75.0, velo_delta_mph=-2.5, alert_level="warning"),
        gold(2, "v1", NOW - timedelta(minutes=2)),
        gold(2, "v2", NOW - timedelta(minutes=2), readiness=81.0),
        # last pitched 3 days ago: not "at 40 now"
        gold(3, "v1", NOW - timedelta(days=3), readiness=40.0, alert_level="critical"),
    ])
    append(tables, "feature_qa", [
        {"checked_at": T0, "table": "pitches", "scope": "game_date = 2026-06-01", "feature_qa": 0.9, "level": "ok",
         "success": False, "failures": ["one"]},
        {"checked_at": T0, "table": "pitch_features", "scope": "game_date = 2026-06-01", "feature_qa": 1.0,
         "level": "ok", "success": True, "failures": []}])
    append(tables, "feature_qa", [
        {"checked_at": T0 + timedelta(minutes=15), "table": "pitches", "scope": "game_date = 2026-06-01",
         "feature_qa": 0.65, "level": "critical", "success": False, "failures": ["one", "two"]}])
    # calibrated at T0; 45 minutes later, in still air at a constant temperature: one half-life of decay
    append(tables, "calibration_events", [{"calibration_id": "c1", "tracking_system_id": "fenway_park",
                                           "event_time": T0, "trigger": "pregame", "is_late": False}])
    append(tables, "environment_readings", [
        {"tracking_system_id": "fenway_park", "event_time": T0 + timedelta(minutes=m), "temperature_c": 20.0,
         "relative_humidity_pct": 50.0, "wind_speed_mph": 0.0, "wind_direction_deg": 0.0, "vibration_mm_s": 0.0,
         "is_late": False} for m in (0, 15, 30, 45)])
    return tables


def test_exporter_exposes_the_stream_tables_rows(lakehouse: Tables, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for i, age in enumerate((30, 90)):
        (landing / f"f{i}.jsonl").write_text("{}\n")
        os.utime(landing / f"f{i}.jsonl", (NOW.timestamp() - age, NOW.timestamp() - age))
    collector = LakehouseCollector(lakehouse, landing, active_hours=6, active_version=lambda: "v2",
                                   now=NOW.timestamp)
    collector.refresh()
    m = scrape(collector)

    # volumes: counters over every micro-batch, per query
    assert value(m, "readiness_stream_rows_total", query="stream") == 154
    assert value(m, "readiness_stream_quarantined_total", query="stream") == 4
    assert value(m, "readiness_stream_pitches_written_total", query="stream") == 58
    assert value(m, "readiness_stream_late_pitches_total", query="stream") == 6
    assert value(m, "readiness_stream_duplicates_dropped_total", query="stream") == 2
    assert value(m, "readiness_stream_batch_duration_seconds_count", query="stream") == 3
    assert value(m, "readiness_stream_batch_duration_seconds_sum", query="stream") == pytest.approx(4.5)
    # the newest micro-batch, and the newest one that carried pitches
    assert value(m, "readiness_stream_last_batch_duration_seconds", query="stream") == 0.5
    assert value(m, "readiness_stream_last_commit_timestamp_seconds", query="stream") == (T0 + timedelta(seconds=20)).timestamp()
    assert value(m, "readiness_stream_max_event_timestamp_seconds", query="stream") == (T0 + timedelta(seconds=6)).timestamp()
    assert value(m, "readiness_stream_watermark_timestamp_seconds", query="stream") == (T0 - timedelta(seconds=8)).timestamp()
    assert value(m, "readiness_stream_late_fraction", query="stream") == 0.25
    latency = "readiness_stream_event_to_commit_latency_seconds"
    assert value(m, latency, query="stream", target="commit", quantile="0.99") == 3.0
    assert value(m, latency, query="stream", target="commit", quantile="1") == 3.5
    assert value(m, latency, query="stream", target="readiness", quantile="0.5") == 2.5

    # pitchers the stream updated within the active window, per model version
    assert value(m, "readiness_pitcher_readiness", pitcher_id="1", model_version="v1") == 55.0
    assert value(m, "readiness_pitcher_readiness", pitcher_id="1", model_version="v2") == 75.0
    assert value(m, "readiness_pitcher_fatigue", pitcher_id="1", model_version="v1") == 60.0
    assert value(m, "readiness_pitcher_risk", pitcher_id="1", model_version="v1") == 40.0
    assert value(m, "readiness_pitcher_velocity_delta_mph", pitcher_id="1", model_version="v1") == -2.5
    assert value(m, "readiness_pitcher_late_fraction", pitcher_id="1", model_version="v1") == 0.1
    assert value(m, "readiness_pitcher_calibration_confidence", pitcher_id="1", model_version="v1") == 0.72
    assert value(m, "readiness_pitcher_updated_timestamp_seconds", pitcher_id="2", model_version="v2") == \
        (NOW - timedelta(minutes=2)).timestamp()
    assert {dict(k[1])["pitcher_id"] for k in names(m, "readiness_pitcher_readiness")} == {"1", "2"}
    # no velocity series for a pitcher whose fastball window has nothing tracked yet (never a 0)
    assert {dict(k[1])["pitcher_id"] for k in names(m, "readiness_pitcher_velocity_delta_mph")} == {"1"}
    assert value(m, "readiness_alerts", model_version="v1", level="critical") == 1
    assert value(m, "readiness_alerts", model_version="v1", level="ok") == 1
    assert value(m, "readiness_alerts", model_version="v2", level="warning") == 1
    assert value(m, "readiness_alerts", model_version="v2", level="critical") == 0
    assert value(m, "readiness_model_served", model_version="v2") == 1

    # calibration: one 45-minute half-life since the calibration -> 0.50 + 0.45 / 2
    assert value(m, "readiness_calibration_confidence", tracking_system_id="fenway_park") == pytest.approx(0.725)
    assert value(m, "readiness_calibration_last_timestamp_seconds", tracking_system_id="fenway_park") == T0.timestamp()
    # feature QA: the newest run of each table
    assert value(m, "readiness_feature_qa", table="pitches") == 0.65
    assert value(m, "readiness_feature_qa", table="pitch_features") == 1.0
    # freshness and the file source's backlog
    assert value(m, "readiness_table_rows", table="stream_metrics") == 3
    assert value(m, "readiness_table_version", table="feature_qa") == 1
    assert value(m, "readiness_stream_landing_files_pending") == 2
    assert value(m, "readiness_stream_landing_oldest_file_age_seconds") == pytest.approx(90)
    assert value(m, "readiness_exporter_errors_total", source="stream_metrics") == 0


def test_exporter_reads_new_batches_and_keeps_the_last_good_values_on_failure(lakehouse: Tables) -> None:
    collector = LakehouseCollector(lakehouse, now=NOW.timestamp)
    collector.refresh()
    append(lakehouse, "stream_metrics", [batch(3, T0 + timedelta(seconds=30), rows_in=10, quarantined=5,
                                               batch_duration_s=1.0)])
    collector.refresh()
    m = scrape(collector)
    assert value(m, "readiness_stream_rows_total", query="stream") == 164
    assert value(m, "readiness_stream_quarantined_total", query="stream") == 9
    assert value(m, "readiness_stream_last_batch_duration_seconds", query="stream") == 1.0
    assert not names(m, "readiness_model_served")  # no source of the served version given

    def broken() -> list:
        raise OSError("object store unreachable")

    collector._pitchers = broken  # type: ignore[method-assign]
    collector.refresh()
    m = scrape(collector)
    assert value(m, "readiness_exporter_errors_total", source="pitcher_readiness") == 1
    assert value(m, "readiness_pitcher_readiness", pitcher_id="1", model_version="v1") == 55.0


def test_exporter_serves_nothing_stale_before_the_stream_has_run(tmp_path: Path) -> None:
    collector = LakehouseCollector(Tables(str(tmp_path / "none")), now=NOW.timestamp)
    collector.refresh()
    m = scrape(collector)
    assert not [k for k in m if k[0].startswith(("readiness_stream_", "readiness_pitcher_", "readiness_table_"))]
    assert all(value(m, "readiness_exporter_errors_total", source=s) == 0 for s in LakehouseCollector.SOURCES)


def test_served_version_unknown_is_a_counted_failure_not_a_guess(lakehouse: Tables, tmp_path: Path) -> None:
    """No champion alias (no registry yet) and PostgreSQL unreachable: no readiness_model_served series (the
    ReadinessServedModelUnknown alert says so), and the failure is counted."""
    from readiness_platform.exporter import served_version
    from readiness_platform.settings import get_settings

    settings = get_settings(home=tmp_path, database_url="postgresql://nobody:x@127.0.0.1:9/none")
    collector = LakehouseCollector(lakehouse, active_version=served_version(settings), now=NOW.timestamp)
    collector.refresh()
    m = scrape(collector)
    assert not names(m, "readiness_model_served")
    assert value(m, "readiness_exporter_errors_total", source="model") == 1
    assert value(m, "readiness_pitcher_readiness", pitcher_id="1", model_version="v1") == 55.0


def test_a_failed_reading_is_read_again_on_the_next_refresh(lakehouse: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    import readiness_platform.exporter as exporter

    collector = LakehouseCollector(lakehouse, now=NOW.timestamp)
    collector.refresh()
    append(lakehouse, "stream_metrics", [batch(3, T0 + timedelta(seconds=30), rows_in=10)])
    summarize, failures = exporter._summarize, list[str]()

    def flaky(table: pa.Table) -> object:
        if not failures:
            failures.append("timeout")
            raise OSError("object store timeout")
        return summarize(table)

    monkeypatch.setattr(exporter, "_summarize", flaky)
    collector.refresh()  # fails: the previous totals stay
    m = scrape(collector)
    assert value(m, "readiness_stream_rows_total", query="stream") == 154
    assert value(m, "readiness_exporter_errors_total", source="stream_metrics") == 1
    collector.refresh()  # no new commit since, but the version that failed is read now
    assert value(scrape(collector), "readiness_stream_rows_total", query="stream") == 164
