"""What the lakehouse says right now, read without Spark (deltalake): for sensors, the UI and the API.

Sensors tick every few tens of seconds; starting a JVM for each tick would cost more than the tick.
The Delta log alone gives a table's version, last commit time and row count (from the add actions'
statistics), and the small bronze tables of calibrations and readings give each tracking system's
calibration confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from readiness_platform.domain.calibration import needs_recalibration
from readiness_platform.settings import Tables


@dataclass(frozen=True)
class TableState:
    """One Delta table as its log describes it."""

    name: str
    path: str
    exists: bool
    version: int | None = None
    rows: int | None = None
    last_commit: datetime | None = None  # UTC
    last_operation: str | None = None


def table_state(name: str, path: str) -> TableState:
    """Version, row count and last commit of the table at `path` (exists=False if there is none yet)."""
    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        return TableState(name, path, exists=False)
    last = table.history(1)[0]
    actions = pa.table(table.get_add_actions(flatten=True)).to_pandas()
    rows = int(actions["num_records"].sum()) if "num_records" in actions and len(actions) else 0
    return TableState(name, path, True, table.version(), rows,
                      datetime.fromtimestamp(last["timestamp"] / 1000, timezone.utc), last.get("operation"))


@dataclass(frozen=True)
class SystemConfidence:
    """A tracking system's calibration confidence at the latest moment the feed has told us about."""

    tracking_system_id: str
    as_of: datetime  # feed (event) time, UTC: the system's latest reading or calibration
    confidence: float
    last_calibration: datetime | None
    readings: int

    @property
    def recalibration_needed(self) -> bool:
        return needs_recalibration(self.confidence)


def _frame(path: str, columns: list[str]) -> pd.DataFrame:
    try:
        return DeltaTable(path).to_pandas(columns=columns)
    except TableNotFoundError:
        return pd.DataFrame(columns=columns)


def system_confidences(tables: Tables) -> list[SystemConfidence]:
    """Each tracking system's confidence now (in feed time), from bronze's calibrations and readings.

    Late rows count here: the question is the camera's state, not what the stream scored on time.
    """
    from readiness_platform.transforms.features import build_timelines

    cal = _frame(tables.calibration_events, ["tracking_system_id", "event_time"])
    env = _frame(tables.environment_readings,
                 ["tracking_system_id", "event_time", "temperature_c", "wind_speed_mph", "vibration_mm_s"])
    out = []
    for system, (timeline, _) in sorted(build_timelines(cal.to_dict("records"), env.to_dict("records")).items()):
        as_of = max([*timeline.calibrations, *timeline.reading_times])
        out.append(SystemConfidence(system, as_of.replace(tzinfo=timezone.utc), timeline.confidence(as_of),
                                    timeline.last_calibration(as_of), len(timeline.readings)))
    return out


def feed_now(tables: Tables) -> datetime:
    """The feed's current time: the latest event time the stream has seen (a replay runs in the past);
    the wall clock if the stream has not run."""
    metrics = _frame(tables.stream_metrics, ["max_event_time"]).dropna()
    if metrics.empty:
        return datetime.now(timezone.utc)
    return pd.to_datetime(metrics["max_event_time"], utc=True).max().to_pydatetime()


@dataclass(frozen=True)
class LateBatch:
    """A micro-batch that landed pitches behind the watermark (which the stream's state did not score)."""

    app_id: str
    batch_id: int
    committed_at: datetime
    late_pitches: int


def late_batches(tables: Tables, after: datetime | None = None) -> list[LateBatch]:
    """Stream batches with late pitches committed after `after` (all if None), oldest first."""
    m = _frame(tables.stream_metrics, ["app_id", "batch_id", "committed_at", "late_pitches"])
    m = m[m["late_pitches"] > 0]
    out = [LateBatch(r.app_id, int(r.batch_id), t, int(r.late_pitches))
           for r, t in zip(m.itertuples(), (ts.to_pydatetime() for ts in pd.to_datetime(m["committed_at"], utc=True)))]
    return sorted((b for b in out if after is None or b.committed_at > after), key=lambda b: b.committed_at)
