"""Prometheus metrics of the stream and the lakehouse, read from the Delta tables without Spark.

    readiness exporter --port 9464          (GET /metrics; the chart runs it as its own Deployment)

The stream is a Spark job with no endpoint of its own; what it did is in Delta - one `stream_metrics` row
per micro-batch, each pitcher's latest row in gold `pitcher_readiness`, calibrations and readings in
bronze, quality-gate runs in `feature_qa`. The exporter re-reads them every `interval` seconds with
delta-rs (a table is re-read only when its version moved) and a scrape, answered from the HTTP server's
own thread, serves the last reading: scrapes never touch object storage. A source that fails keeps its last good values, and the failure is
counted (`readiness_exporter_errors_total{source}`) and logged.

Volumes are counters summed over every micro-batch (`rate()` gives quarantine rate and late fraction over
any window); each `stream_metrics` file is read once (the stream appends one small file per batch; a
compaction's new file is read once more). Per-pitcher gauges cover the pitchers the stream updated in the
last `active_hours` (a pitcher from last week is not "at 55 now"); alert rules keep to the scoring version
the API serves, `readiness_model_served` (the MLflow champion alias, else PostgreSQL `model_deployments`).
Consumer lag: of the Kafka source (READINESS_STREAM_SOURCE=kafka), records on the broker past the
checkpoint's last committed offsets per partition (as `readiness kafka lag`); of the landing folder,
files waiting and the oldest one's age.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

from readiness_platform.settings import Settings, Tables

log = logging.getLogger(__name__)

ALERT_LEVELS = ("ok", "warning", "critical")
PITCHER = ("pitcher_id", "model_version")
SYSTEM = ("tracking_system_id",)
QUERY = ("query",)
PARTITION = ("topic", "partition")


@dataclass(frozen=True)
class MetricSpec:
    """A metric this exporter serves: its type, help text and labels (declared once, here)."""

    kind: str  # counter | gauge | summary
    help: str
    labels: tuple[str, ...] = ()

    def family(self, name: str) -> Any:  # noqa: ANN401 - the prometheus_client family of `kind` (add_metric differs)
        cls = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily, "summary": SummaryMetricFamily}[self.kind]
        return cls(name, self.help, labels=list(self.labels))


# stream_metrics columns summed into counters over every micro-batch
COUNTERS = {
    "rows_in": "readiness_stream_rows",
    "pitches_written": "readiness_stream_pitches_written",
    "duplicates_dropped": "readiness_stream_duplicates_dropped",
    "quarantined": "readiness_stream_quarantined",
    "late_rows": "readiness_stream_late_rows",
    "late_pitches": "readiness_stream_late_pitches",
}
# the newest micro-batch: gauge -> column
NEWEST = {
    "readiness_stream_last_batch_duration_seconds": "batch_duration_s",
    "readiness_stream_last_commit_timestamp_seconds": "committed_at",
    "readiness_stream_watermark_timestamp_seconds": "watermark",
    "readiness_stream_max_event_timestamp_seconds": "max_event_time",
}
LATENCY = {"latency_p50_s": ("commit", "0.5"), "latency_p99_s": ("commit", "0.99"), "latency_max_s": ("commit", "1"),
           "readiness_latency_p50_s": ("readiness", "0.5"), "readiness_latency_p99_s": ("readiness", "0.99")}
STREAM_COLUMNS = ["query", *COUNTERS, *NEWEST.values(), "late_fraction", *LATENCY]
# gold pitcher_readiness: gauge -> column
PITCHER_GAUGES = {
    "readiness_pitcher_readiness": "readiness",
    "readiness_pitcher_fatigue": "fatigue",
    "readiness_pitcher_risk": "risk",
    "readiness_pitcher_velocity_delta_mph": "velo_delta_mph",
    "readiness_pitcher_late_fraction": "late_fraction",
    "readiness_pitcher_calibration_confidence": "calibration_confidence",
    "readiness_pitcher_pitch_count": "pitch_count_game",
    "readiness_pitcher_event_timestamp_seconds": "event_time",
    "readiness_pitcher_updated_timestamp_seconds": "updated_at",
}
PITCHER_COLUMNS = ["pitcher_id", "model_version", "alert_level", *PITCHER_GAUGES.values()]

METRICS: dict[str, MetricSpec] = {
    # stream health (stream_metrics)
    "readiness_stream_rows": MetricSpec("counter", "Messages the stream read, valid or not.", QUERY),
    "readiness_stream_pitches_written": MetricSpec("counter", "New pitches committed to bronze.", QUERY),
    "readiness_stream_duplicates_dropped": MetricSpec("counter", "Valid messages already seen.", QUERY),
    "readiness_stream_quarantined": MetricSpec("counter", "Messages that failed the feed contract (quarantine).", QUERY),
    "readiness_stream_late_rows": MetricSpec("counter", "New rows of any kind behind the watermark.", QUERY),
    "readiness_stream_late_pitches": MetricSpec("counter", "New pitches behind the watermark.", QUERY),
    "readiness_stream_batch_duration_seconds": MetricSpec("summary", "Micro-batches: trigger to last commit.", QUERY),
    "readiness_stream_last_batch_duration_seconds": MetricSpec("gauge", "The newest micro-batch's duration.", QUERY),
    "readiness_stream_last_commit_timestamp_seconds": MetricSpec("gauge", "When the newest micro-batch committed.",
                                                                 QUERY),
    "readiness_stream_watermark_timestamp_seconds": MetricSpec("gauge", "Event-time watermark of the newest micro-batch.",
                                                               QUERY),
    "readiness_stream_max_event_timestamp_seconds": MetricSpec("gauge", "Newest event time the stream has seen "
                                                               "(the feed's clock).", QUERY),
    "readiness_stream_event_to_commit_latency_seconds": MetricSpec(
        "gauge", "Event arrival to commit in the newest micro-batch with pitches: bronze (target=commit) and gold "
        "pitcher_readiness (target=readiness).", ("query", "target", "quantile")),
    "readiness_stream_late_fraction": MetricSpec("gauge", "Late pitches / pitches written in the newest micro-batch "
                                                 "with pitches.", QUERY),
    # consumer lag
    "readiness_stream_landing_files_pending": MetricSpec("gauge", "Landing files the stream has not committed yet "
                                                         "(consumer lag of the file source)."),
    "readiness_stream_landing_oldest_file_age_seconds": MetricSpec("gauge", "Age of the oldest landing file not "
                                                                   "committed yet (0 when none)."),
    "readiness_kafka_consumer_lag": MetricSpec("gauge", "Records on the broker the stream has not committed.", PARTITION),
    "readiness_kafka_records_lost": MetricSpec("gauge", "Records removed from Kafka before the stream read them.",
                                               PARTITION),
    # per pitcher (gold pitcher_readiness), per model version
    "readiness_pitcher_readiness": MetricSpec("gauge", "Readiness 0-100 of the pitcher's latest pitch.", PITCHER),
    "readiness_pitcher_fatigue": MetricSpec("gauge", "Fatigue 0-100 of the pitcher's latest pitch.", PITCHER),
    "readiness_pitcher_risk": MetricSpec("gauge", "Risk 0-100 of the pitcher's latest pitch.", PITCHER),
    "readiness_pitcher_velocity_delta_mph": MetricSpec("gauge", "Last 5 primary fastballs minus the seasonal baseline, "
                                                       "mph (absent until tracked).", PITCHER),
    "readiness_pitcher_late_fraction": MetricSpec("gauge", "Share of the outing's pitches not received (yet).", PITCHER),
    "readiness_pitcher_calibration_confidence": MetricSpec("gauge", "Calibration confidence of the tracking system "
                                                           "the pitch was scored with.", PITCHER),
    "readiness_pitcher_pitch_count": MetricSpec("gauge", "Pitches in the game so far.", PITCHER),
    "readiness_pitcher_event_timestamp_seconds": MetricSpec("gauge", "Event (feed) time of the latest pitch.", PITCHER),
    "readiness_pitcher_updated_timestamp_seconds": MetricSpec("gauge", "When the stream last changed the row.", PITCHER),
    "readiness_alerts": MetricSpec("gauge", "Active pitchers whose latest pitch is at each alert level.",
                                   ("model_version", "level")),
    "readiness_model_served": MetricSpec("gauge", "1 for the scoring version the API serves (MLflow champion "
                                         "alias, else PostgreSQL model_deployments).", ("model_version",)),
    # calibration per tracking system (bronze calibrations and readings)
    "readiness_calibration_confidence": MetricSpec("gauge", "Calibration confidence of each tracking system at its "
                                                   "latest feed time.", SYSTEM),
    "readiness_calibration_feed_timestamp_seconds": MetricSpec("gauge", "Feed time the confidence is computed at (the "
                                                               "system's latest reading or calibration).", SYSTEM),
    "readiness_calibration_last_timestamp_seconds": MetricSpec("gauge", "Feed time of the system's last calibration.",
                                                               SYSTEM),
    # quality gates (feature_qa)
    "readiness_feature_qa": MetricSpec("gauge", "Share of the quality suite's expectations met, newest run per table "
                                       "(0-1; the minimum < 0.7 is critical).", ("table",)),
    "readiness_feature_qa_checked_timestamp_seconds": MetricSpec("gauge", "When the quality suite last ran, per table.",
                                                                 ("table",)),
    # freshness of every table
    "readiness_table_version": MetricSpec("gauge", "Delta version of each lakehouse table.", ("table",)),
    "readiness_table_last_commit_timestamp_seconds": MetricSpec("gauge", "When each lakehouse table last committed.",
                                                                ("table",)),
    "readiness_table_rows": MetricSpec("gauge", "Rows in each lakehouse table (from its Delta log).", ("table",)),
    # the exporter itself
    "readiness_exporter_errors": MetricSpec("counter", "Failed readings per source.", ("source",)),
    "readiness_exporter_last_success_timestamp_seconds": MetricSpec("gauge", "When each source was last read "
                                                                    "successfully.", ("source",)),
}
TABLES = ("pitches", "environment_readings", "calibration_events", "quarantine", "stream_metrics", "pitch_features",
          "pitcher_readiness", "feature_qa", "seasonal_baselines")


def _family(name: str) -> Any:  # noqa: ANN401 - see MetricSpec.family
    return METRICS[name].family(name)


def _epoch(value) -> float | None:  # noqa: ANN001 - a pandas/pyarrow timestamp, naive = UTC
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).timestamp()


def _num(value) -> float | None:  # noqa: ANN001
    return None if value is None or pd.isna(value) else float(value)


@dataclass
class _FileSummary:
    """What one stream_metrics file adds: per query, the summed counters and its newest rows."""

    sums: dict[str, dict[str, float]]
    count: dict[str, int]
    newest: dict[str, dict]  # query -> newest row (by committed_at)
    newest_with_pitches: dict[str, dict]  # query -> newest row whose latencies and late fraction are set


def _summarize(table: pa.Table) -> _FileSummary:
    frame = table.to_pandas().sort_values("committed_at")
    out = _FileSummary({}, {}, {}, {})
    for query, rows in frame.groupby("query"):
        out.sums[query] = {c: float(rows[c].fillna(0).sum()) for c in COUNTERS}
        out.sums[query]["batch_duration_s"] = float(rows["batch_duration_s"].fillna(0).sum())
        out.count[query] = len(rows)
        out.newest[query] = rows.iloc[-1].to_dict()
        measured = rows.dropna(subset=["latency_p50_s"])
        if len(measured):
            out.newest_with_pitches[query] = measured.iloc[-1].to_dict()
    return out


class _Table:
    """A Delta table kept open and brought up to date incrementally; `moved()` says if it did."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.table: DeltaTable | None = None
        self.seen_version: int | None = None

    def open(self) -> DeltaTable | None:
        """The table at its newest version (None while it does not exist)."""
        if self.table is None:
            try:
                self.table = DeltaTable(self.path)
            except TableNotFoundError:
                return None
        else:
            self.table.update_incremental()
        return self.table

    def moved(self) -> int | None:
        """The table's version if it moved since `seen(...)` (None: unchanged, or no table yet)."""
        table = self.open()
        return None if table is None or table.version() == self.seen_version else table.version()

    def seen(self, version: int | None) -> None:
        """Mark `version` read: only after it was, so a failed reading is retried on the next refresh."""
        if version is not None:
            self.seen_version = version


@dataclass(eq=False)  # registered in a CollectorRegistry, which hashes collectors by identity
class LakehouseCollector:
    """The exporter's metrics: `refresh()` reads the tables, `collect()` (a scrape) serves the last reading.

    `now` and `active_version` are injectable for tests; `active_version` returns the served model version
    (None: unknown, the gauge is left out)."""

    tables: Tables
    landing: Path | None = None
    active_hours: float = 6.0
    active_version: Callable[[], str | None] | None = None
    now: Callable[[], float] = time.time
    kafka: Settings | None = None  # settings of a stream that reads Kafka: per-partition consumer lag
    _families: dict[str, list[Metric]] = field(default_factory=dict)
    _errors: dict[str, int] = field(default_factory=dict)
    _last_success: dict[str, float] = field(default_factory=dict)
    _handles: dict[str, _Table] = field(default_factory=dict)
    _files: dict[str, _FileSummary] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    SOURCES = ("tables", "stream_metrics", "pitcher_readiness", "calibration", "feature_qa", "landing", "kafka",
               "model")

    def _handle(self, name: str) -> _Table:
        if name not in self._handles:
            self._handles[name] = _Table(self.tables.path(name))
        return self._handles[name]

    def refresh(self) -> None:
        """Read every source once; a failing source keeps its previous metrics and is counted."""
        readers = {"tables": self._tables, "stream_metrics": self._stream, "pitcher_readiness": self._pitchers,
                   "calibration": self._calibration, "feature_qa": self._feature_qa, "landing": self._landing,
                   "kafka": self._kafka, "model": self._model}
        for source, read in readers.items():
            try:
                families = read()
            except Exception as e:  # noqa: BLE001 - one unreadable source must not blank the others
                log.warning("exporter: reading %s failed: %s: %s", source, type(e).__name__, e)
                with self._lock:
                    self._errors[source] = self._errors.get(source, 0) + 1
                continue
            with self._lock:
                if families is not None:  # None: unchanged since the last reading
                    self._families[source] = families
                self._last_success[source] = self.now()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            for families in self._families.values():
                yield from families
            errors, success = _family("readiness_exporter_errors"), _family("readiness_exporter_last_success_timestamp_seconds")
            for source in self.SOURCES:
                errors.add_metric([source], self._errors.get(source, 0))
                if source in self._last_success:
                    success.add_metric([source], self._last_success[source])
            yield errors
            yield success

    def describe(self) -> Iterator[Metric]:
        """Every metric this exporter can serve, without samples (prometheus_client's collector protocol)."""
        for name in METRICS:
            yield _family(name)

    # --- sources -----------------------------------------------------------------------------------

    def _tables(self) -> list[Metric]:
        version, last, rows = (_family(n) for n in ("readiness_table_version",
                                                     "readiness_table_last_commit_timestamp_seconds",
                                                     "readiness_table_rows"))
        for name in TABLES:
            table = self._handle(name).open()
            if table is None:
                continue
            version.add_metric([name], table.version())
            last.add_metric([name], table.history(1)[0]["timestamp"] / 1000)
            actions = pa.table(table.get_add_actions(flatten=True))
            rows.add_metric([name], float(pc.sum(actions["num_records"]).as_py() or 0)
                            if "num_records" in actions.column_names else 0.0)
        return [version, last, rows]

    def _stream(self) -> list[Metric] | None:
        handle = self._handle("stream_metrics")
        version = handle.moved()
        if version is None or handle.table is None:
            return None if handle.table is not None else []
        fragments = {f.path: f for f in handle.table.to_pyarrow_dataset().get_fragments()}
        for path in self._files.keys() - fragments.keys():  # compacted away: its rows are in a new file
            del self._files[path]
        for path, fragment in fragments.items():
            if path not in self._files:
                self._files[path] = _summarize(fragment.to_table(columns=STREAM_COLUMNS))
        sums: dict[str, dict[str, float]] = {}
        count: dict[str, int] = {}
        newest: dict[str, dict] = {}
        measured: dict[str, dict] = {}
        for f in self._files.values():
            for query, file_sums in f.sums.items():
                total = sums.setdefault(query, dict.fromkeys(file_sums, 0.0))
                for k, v in file_sums.items():
                    total[k] += v
                count[query] = count.get(query, 0) + f.count[query]
            for into, rows in ((newest, f.newest), (measured, f.newest_with_pitches)):
                for query, row in rows.items():
                    if query not in into or (_epoch(row["committed_at"]) or 0) > (_epoch(into[query]["committed_at"]) or 0):
                        into[query] = row
        out: list[Metric] = []
        for column, name in COUNTERS.items():
            family = _family(name)
            for query, totals in sums.items():
                family.add_metric([query], totals[column])
            out.append(family)
        duration = _family("readiness_stream_batch_duration_seconds")
        for query, totals in sums.items():
            duration.add_metric([query], count_value=count[query], sum_value=totals["batch_duration_s"])
        out.append(duration)
        for name, column in NEWEST.items():
            family = _family(name)
            for query, row in newest.items():
                value = _num(row[column]) if column == "batch_duration_s" else _epoch(row[column])
                if value is not None:
                    family.add_metric([query], value)
            out.append(family)
        latency, late = _family("readiness_stream_event_to_commit_latency_seconds"), _family("readiness_stream_late_fraction")
        for query, row in measured.items():
            for column, (target, quantile) in LATENCY.items():
                if _num(row[column]) is not None:
                    latency.add_metric([query, target, quantile], float(row[column]))
            if _num(row["late_fraction"]) is not None:
                late.add_metric([query], float(row["late_fraction"]))
        handle.seen(version)
        return [*out, latency, late]

    def _pitchers(self) -> list[Metric]:
        table = self._handle("pitcher_readiness").open()
        frame = table.to_pandas(columns=PITCHER_COLUMNS) if table is not None else pd.DataFrame(columns=PITCHER_COLUMNS)
        since = self.now() - self.active_hours * 3600
        frame = frame.loc[pd.Series([(_epoch(t) or 0) >= since for t in frame["updated_at"]], index=frame.index,
                                    dtype=bool)]
        out = []
        for name, column in PITCHER_GAUGES.items():
            family = _family(name)
            for pitcher_id, version, raw in zip(frame["pitcher_id"], frame["model_version"], frame[column]):
                value = _epoch(raw) if name.endswith("_timestamp_seconds") else _num(raw)
                if value is not None:  # no velocity until the fastball window has a tracked pitch: never a 0
                    family.add_metric([str(pitcher_id), version], value)
            out.append(family)
        alerts = _family("readiness_alerts")
        counts = frame.groupby(["model_version", "alert_level"]).size().to_dict()
        for version in sorted(frame["model_version"].unique()):
            for level in ALERT_LEVELS:
                alerts.add_metric([version, level], counts.get((version, level), 0))
        return [*out, alerts]

    def _calibration(self) -> list[Metric] | None:
        from readiness_platform.observe import system_confidences

        handles = [self._handle(n) for n in ("calibration_events", "environment_readings")]
        versions = [h.moved() for h in handles]
        if all(v is None for v in versions) and "calibration" in self._families:
            return None
        confidence, as_of, last = (_family(n) for n in ("readiness_calibration_confidence",
                                                        "readiness_calibration_feed_timestamp_seconds",
                                                        "readiness_calibration_last_timestamp_seconds"))
        for system in system_confidences(self.tables):
            confidence.add_metric([system.tracking_system_id], system.confidence)
            as_of.add_metric([system.tracking_system_id], system.as_of.timestamp())
            if system.last_calibration is not None:
                last.add_metric([system.tracking_system_id], _epoch(system.last_calibration))
        for handle, version in zip(handles, versions):
            handle.seen(version)
        return [confidence, as_of, last]

    def _feature_qa(self) -> list[Metric] | None:
        handle = self._handle("feature_qa")
        version = handle.moved()
        if version is None or handle.table is None:
            return None if handle.table is not None else []
        frame = handle.table.to_pandas(columns=["checked_at", "table", "feature_qa"]).sort_values("checked_at")
        qa, checked = _family("readiness_feature_qa"), _family("readiness_feature_qa_checked_timestamp_seconds")
        for name, rows in frame.groupby("table"):
            newest = rows.iloc[-1]
            qa.add_metric([name], float(newest["feature_qa"]))
            checked.add_metric([name], _epoch(newest["checked_at"]))
        handle.seen(version)
        return [qa, checked]

    def _landing(self) -> list[Metric]:
        if self.landing is None or not self.landing.is_dir():
            return []
        ages = [self.now() - p.stat().st_mtime for p in self.landing.iterdir() if p.is_file()]
        pending, oldest = (_family(n) for n in ("readiness_stream_landing_files_pending",
                                                "readiness_stream_landing_oldest_file_age_seconds"))
        pending.add_metric([], len(ages))
        oldest.add_metric([], max(ages, default=0.0))
        return [pending, oldest]

    def _kafka(self) -> list[Metric]:
        if self.kafka is None:
            return []
        # the broker's offsets against the checkpoint's last committed batch (kafka.consumer_lag without its
        # scans of bronze, which would cost a table scan every refresh)
        from readiness_platform.kafka import PartitionLag, checkpoint_position, describe_topics

        position = checkpoint_position(f"{self.kafka.checkpoints}/stream")
        lag, lost = _family("readiness_kafka_consumer_lag"), _family("readiness_kafka_records_lost")
        for topic in describe_topics(self.kafka):
            for p in topic.partitions:
                committed = position.committed.get((topic.name, p.partition)) if position.committed_batch is not None else None
                state = PartitionLag(topic.name, p.partition, p.start_offset, p.end_offset, committed)
                lag.add_metric([topic.name, str(p.partition)], state.lag)
                lost.add_metric([topic.name, str(p.partition)], state.lost)
        return [lag, lost]

    def _model(self) -> list[Metric]:
        version = self.active_version() if self.active_version else None
        if version is None:
            return []
        family = _family("readiness_model_served")
        family.add_metric([version], 1)
        return [family]


def served_version(settings: Settings) -> Callable[[], str | None]:
    """The scoring version the API serves, read as the API reads it (api.services.ActiveVersion): the MLflow
    `champion` alias's, or before any model is registered, the last decision of PostgreSQL
    `model_deployments`."""
    from readiness_platform.model_registry import AliasCache

    champion = AliasCache(settings)

    def read() -> str | None:
        import psycopg

        from readiness_platform import deployments

        served = champion.refresh()  # the last good champion when the registry is briefly away
        if served is not None:
            return served.scoring_version
        with psycopg.connect(settings.database_url, connect_timeout=3) as conn:
            return deployments.active(conn).active_version

    return read


def build_registry(collector: LakehouseCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def serve(settings: Settings, host: str, port: int, interval_s: float, active_hours: float,
          with_served_version: bool = True) -> None:
    """Refresh every `interval_s` and serve /metrics on host:port until the process is stopped."""
    from prometheus_client import start_http_server

    collector = LakehouseCollector(settings.tables, settings.landing, active_hours,
                                   served_version(settings) if with_served_version else None,
                                   kafka=settings if settings.stream_source == "kafka" else None)
    collector.refresh()  # the first scrape already has values
    start_http_server(port, addr=host, registry=build_registry(collector))
    log.warning("exporter: /metrics on %s:%d, tables at %s, every %.0f s", host, port, settings.tables.root,
                interval_s)
    while True:
        time.sleep(interval_s)
        collector.refresh()
