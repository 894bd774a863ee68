"""What the lakehouse says right now, read without Spark (deltalake): for sensors, the UI and the API.

Sensors tick every few tens of seconds; starting a JVM for each tick would cost more than the tick.
The Delta log alone gives a table's version, last commit time and row count (from the add actions'
statistics), and the small bronze tables of calibrations and readings give each tracking system's
calibration confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from readiness_platform.domain.calibration import needs_recalibration, opportunity
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
    last_pitch: datetime | None = None  # UTC: the system's latest pitch in bronze

    @property
    def recalibration_needed(self) -> bool:
        return needs_recalibration(self.confidence)

    @property
    def idle_s(self) -> float:
        """Seconds of feed time since its last pitch (0 without one: not known to be in a break)."""
        return (self.as_of - self.last_pitch).total_seconds() if self.last_pitch else 0.0

    @property
    def recalibration_opportunity(self) -> bool:
        """Drifting (below 0.85) and in a break in play: recalibrate now, between pitches."""
        return opportunity(self.confidence, self.idle_s)


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
    timelines = build_timelines(cal.to_dict("records"), env.to_dict("records"))
    newest = max((t for timeline, _ in timelines.values() for t in [*timeline.calibrations, *timeline.reading_times]),
                 default=None)
    last_pitch = _last_pitches(tables, newest)
    out = []
    for system, (timeline, _) in sorted(timelines.items()):
        as_of = max([*timeline.calibrations, *timeline.reading_times])
        pitched = last_pitch.get(system)
        out.append(SystemConfidence(system, as_of.replace(tzinfo=timezone.utc), timeline.confidence(as_of),
                                    timeline.last_calibration(as_of), len(timeline.readings),
                                    pitched.replace(tzinfo=timezone.utc) if pitched is not None else None))
    return out


def _last_pitches(tables: Tables, newest: datetime | None) -> dict[str, datetime]:
    """Each system's latest pitch (naive UTC) among the games of the newest event time's day and the day
    before (partitions of bronze `pitches`: a sensor's tick reads a day or two, not the season)."""
    if newest is None:
        return {}
    day = (newest - pd.Timedelta(days=1)).date()
    try:
        frame = DeltaTable(tables.pitches).to_pandas(columns=["tracking_system_id", "event_time"],
                                                     filters=[("game_date", ">=", day)])
    except TableNotFoundError:
        return {}
    return {system: t.to_pydatetime().replace(tzinfo=None) for system, t in
            pd.to_datetime(frame["event_time"]).groupby(frame["tracking_system_id"]).max().items()}


def feed_now(tables: Tables, rate: float = 1.0) -> datetime:
    """The feed's current time: the newest event time the stream has committed, moved on by the wall time
    since that commit, times `rate` (settings.feed_clock_rate: 1 live; a replay's speed-up in a replay, whose
    feed runs that much faster than the wall clock). The wall clock if the stream has not run."""
    now = datetime.now(timezone.utc)
    metrics = _frame(tables.stream_metrics, ["max_event_time", "committed_at"]).dropna()
    if metrics.empty:
        return now
    newest = metrics.loc[pd.to_datetime(metrics["max_event_time"]).idxmax()]
    seen = pd.Timestamp(newest["max_event_time"]).tz_localize(None).tz_localize(timezone.utc)
    committed = pd.Timestamp(newest["committed_at"]).tz_localize(None).tz_localize(timezone.utc)
    return (seen + max(now - committed.to_pydatetime(), timedelta(0)) * rate).to_pydatetime()


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
