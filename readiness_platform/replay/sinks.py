"""Where the replay delivers: the landing folder (embedded default) or the feed's Kafka topics."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Protocol

from readiness_platform.settings import Settings


class FeedSink(Protocol):
    """Takes one flush worth of delivered lines and returns once they are delivered: one atomic file in
    the landing folder; acknowledged messages on Kafka (where a running stream may read a flush in two
    micro-batches)."""

    def write(self, lines: list[str]) -> None: ...

    def close(self) -> None: ...


class LandingFolderSink:
    """JSON-lines files written atomically: a hidden temporary name first, then a rename into the folder.

    Spark's file source lists only complete files (it skips names starting with '.'), so it never reads
    a half-written file. It takes files in modification-time order at millisecond resolution, so each
    file is stamped at least a millisecond after the previous one: delivery order is kept however fast
    the files come.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.tmp = self.folder / ".tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._last_mtime_ns = 0

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.jsonl"
        tmp = self.tmp / name
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        mtime = max(time.time_ns(), self._last_mtime_ns + 2_000_000)
        os.utime(tmp, ns=(mtime, mtime))
        self._last_mtime_ns = mtime
        os.replace(tmp, self.folder / name)

    def close(self) -> None:
        pass


_KIND = re.compile(r'"kind"\s*:\s*"([^"]*)"')
_GAME = re.compile(r'"game_pk"\s*:\s*"?(\d+)')
_SYSTEM = re.compile(r'"tracking_system_id"\s*:\s*"([^"]*)"')


def route(line: str) -> tuple[str, str | None]:
    """(kind, key) of a feed line: which topic it goes to, and the key that keeps a game in one partition
    (a pitch: its game_pk; a reading or calibration: its tracking system, which serves one game at a time).

    Read from the text, not parsed: a damaged message still goes where its producer would have sent it.
    A line with no known kind (garbled bytes, an unknown kind) goes to the pitches topic - the tracking
    cameras' feed, where the stream quarantines it like any other.
    """
    kind = _KIND.search(line)
    kind_name = kind.group(1) if kind and kind.group(1) in ("pitch", "environment", "calibration") else "pitch"
    found = (_GAME if kind_name == "pitch" else _SYSTEM).search(line)
    return kind_name, found.group(1) if found else None


class KafkaSink:
    """Each line to its kind's topic (settings.kafka_topics), keyed as `route` says. A `write` returns when
    the broker has acknowledged every message of it, so whatever reads the topics next sees the whole
    flush; the producer is idempotent, so its retries (a broker restarting) write nothing twice. The
    topics are created first if missing (idempotent)."""

    def __init__(self, settings: Settings, flush_timeout_s: float = 120.0) -> None:
        from readiness_platform.kafka import ensure_topics, feed_producer

        ensure_topics(settings)
        self.topics = settings.kafka_topics
        self.producer = feed_producer(settings)
        self.flush_timeout_s = flush_timeout_s

    def write(self, lines: list[str]) -> None:
        from readiness_platform.kafka import DeliveryFailed

        errors: list[str] = []

        def delivered(error, _message) -> None:  # noqa: ANN001 - confluent-kafka callback
            if error is not None:
                errors.append(error.str())

        for line in lines:
            kind, key = route(line)
            while True:
                try:
                    self.producer.produce(self.topics[kind], value=line.encode("utf-8"),
                                          key=key.encode("utf-8") if key is not None else None, on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self.producer.poll(0.05)
        left = self.producer.flush(self.flush_timeout_s)
        if errors or left:
            raise DeliveryFailed(len(errors) + left, len(lines), errors[0] if errors else "not acknowledged in time")

    def close(self) -> None:
        self.producer.flush(self.flush_timeout_s)
