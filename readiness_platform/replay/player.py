"""Plays a delivery plan in (sped-up) real time into a sink, stamping each message's ingest_time."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from readiness_platform.replay.lag import Delivery
from readiness_platform.replay.sinks import FeedSink


def stamp_ingest_time(payload: str, now: datetime) -> str:
    """The payload with ingest_time set, when it is a JSON object (damaged bytes go as they are)."""
    if payload.startswith("{") and payload.endswith("}"):
        return f'{payload[:-1]},"ingest_time":"{now.isoformat(timespec="milliseconds").replace("+00:00", "Z")}"}}'
    return payload


@dataclass
class ReplayStats:
    """What a replay delivered, by kind and fault; printed as progress and returned at the end."""

    messages: int = 0
    files: int = 0
    by_kind: Counter = field(default_factory=Counter)
    duplicates: int = 0
    late: int = 0
    malformed: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, d: Delivery) -> None:
        self.messages += 1
        self.by_kind[d.kind] += 1
        self.duplicates += d.duplicate
        self.late += d.late
        self.malformed += d.corruption is not None

    def line(self, clock: datetime | None = None) -> str:
        rate = self.messages / max(1e-9, time.monotonic() - self.started)
        at = f" feed clock {clock:%Y-%m-%d %H:%M:%S}Z" if clock else ""
        return (
            f"replay: {self.messages} messages in {self.files} files ({rate:.0f}/s){at}; "
            f"pitches {self.by_kind['pitch']}, readings {self.by_kind['environment']}, "
            f"calibrations {self.by_kind['calibration']}; duplicates {self.duplicates}, late {self.late}, "
            f"malformed {self.malformed}"
        )


def play(
    deliveries: Sequence[Delivery],
    sink: FeedSink,
    speedup: float = 1.0,
    flush_every_s: float = 0.1,
    max_idle_s: float = 2.0,
    progress_every_s: float = 5.0,
    per_file: int = 1000,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> ReplayStats:
    """Deliver the plan: `speedup` feed seconds per wall second (0 = as fast as possible, `per_file`
    messages a file, which makes the files - and a stream's micro-batches over them - reproducible).

    Deliveries due within one `flush_every_s` of wall time go out together as one file. Quiet stretches
    of the feed (between games, overnight) are cut to at most `max_idle_s` of wall time.
    """
    stats = ReplayStats()
    if not deliveries:
        return stats
    wall = time.monotonic()  # when the current delivery is due, on the wall clock
    feed_prev = deliveries[0].deliver_at
    last_progress = wall
    batch: list[Delivery] = []
    batch_start = batch_last = wall
    for d in deliveries:
        if speedup > 0:
            step = (d.deliver_at - feed_prev).total_seconds() / speedup
            wall += min(max(step, 0.0), max_idle_s)
        feed_prev = d.deliver_at
        if batch and (wall - batch_start >= flush_every_s or (speedup <= 0 and len(batch) >= per_file)):
            _sleep_until(batch_last)
            _flush(sink, batch, stats)
        if not batch:
            batch_start = wall
        batch.append(d)
        batch_last = wall
        stats.add(d)
        if time.monotonic() - last_progress >= progress_every_s:
            last_progress = time.monotonic()
            log(stats.line(d.deliver_at))
    _sleep_until(batch_last)
    _flush(sink, batch, stats)
    sink.close()
    log(stats.line(deliveries[-1].deliver_at) + " - done")
    return stats


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _flush(sink: FeedSink, batch: list[Delivery], stats: ReplayStats) -> None:
    if not batch:
        return
    now = datetime.now(timezone.utc)
    sink.write([stamp_ingest_time(d.payload, now) for d in batch])
    stats.files += 1
    batch.clear()
