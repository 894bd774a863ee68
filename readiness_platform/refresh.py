"""A value re-read in the background: readers on a hot path never wait for the source after the first read."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Refreshed(Generic[T]):
    """`load()` once on first `get()`, then again whenever the value is older than `ttl_s`: in a background
    thread (the reader gets the current value at once), or with `wait=True` before returning (a reader that
    must never see a value older than `ttl_s`, e.g. once per micro-batch). `load` keeps its own last good
    value on errors."""

    def __init__(self, load: Callable[[], T], ttl_s: float, wait: bool = False) -> None:
        self.load, self.ttl_s, self.wait = load, ttl_s, wait
        self._value: T | None = None
        self._read_at: float | None = None
        self._busy = threading.Lock()

    def _reload(self) -> None:
        self._value = self.load()
        self._read_at = time.monotonic()

    def get(self) -> T | None:
        if self._read_at is None or self.ttl_s == 0 or (self.wait and time.monotonic() - self._read_at >= self.ttl_s):
            with self._busy:
                self._reload()
        elif time.monotonic() - self._read_at >= self.ttl_s and self._busy.acquire(blocking=False):
            def run() -> None:
                try:
                    self._reload()
                finally:
                    self._busy.release()
            threading.Thread(target=run, name="refresh", daemon=True).start()
        return self._value
