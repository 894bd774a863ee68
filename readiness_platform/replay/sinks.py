"""Where the replay delivers: the landing folder (embedded default); Kafka plugs in behind the same protocol."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Protocol


class FeedSink(Protocol):
    """Takes one flush worth of delivered lines; each call is one atomic unit for the stream."""

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
