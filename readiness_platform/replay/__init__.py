"""Feed replay: real Statcast CSVs turned into a live, late, out-of-order feed (adapter side)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from readiness_platform.replay.feed import feed_items
from readiness_platform.replay.lag import Delivery, LagModel, plan_deliveries
from readiness_platform.replay.statcast import load_pitches


def replay_plan(files: Sequence[str | Path], lag: LagModel, environment_every_s: float = 60.0) -> list[Delivery]:
    """Every message a replay of `files` delivers, in delivery order (seeded by `lag.seed`)."""
    pitches = load_pitches(files, seed=lag.seed)
    return plan_deliveries(feed_items(pitches, seed=lag.seed, environment_every_s=environment_every_s), lag)
