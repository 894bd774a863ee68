"""The ballpark's delivery model: when (and how) each event reaches the platform.

Tracking data arrives 2-5 s after the pitch, with jitter, so deliveries overtake each other; a share is
delivered twice, a share arrives after the stream's watermark has passed it, and a share is corrupted in
transit (the clean copy is retransmitted after it). Everything is drawn from one seeded generator, so a
replay with the same seed and settings delivers the same bytes in the same order.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

CORRUPTIONS = (
    "truncated_json",
    "not_json",
    "missing_key",
    "out_of_range",
    "wrong_type",
    "unknown_schema_version",
    "unknown_kind",
)


@dataclass(frozen=True)
class LagModel:
    """Delivery delays and fault rates; the defaults match what a ballpark feed does on a normal night."""

    min_delay_s: float = 2.0
    max_delay_s: float = 5.0
    jitter_s: float = 0.3  # sd of a normal jitter on top of the uniform 2-5 s delay
    duplicate_rate: float = 0.02
    duplicate_gap_s: tuple[float, float] = (0.2, 3.0)
    late_rate: float = 0.02  # share delivered only after the watermark has passed their event time
    late_extra_s: tuple[float, float] = (1.0, 30.0)
    malformed_rate: float = 0.01
    watermark_delay_s: float = 7.0
    seed: int = 7

    def __post_init__(self) -> None:
        if not 0 <= self.min_delay_s <= self.max_delay_s:
            raise ValueError("need 0 <= min_delay_s <= max_delay_s")
        for name in ("duplicate_rate", "late_rate", "malformed_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1]")


@dataclass(frozen=True)
class Delivery:
    """One message as the platform receives it, at `deliver_at` on the event-time clock."""

    deliver_at: datetime
    payload: str  # one JSON line, or the corrupted bytes
    event_time: datetime
    kind: str
    key: str  # what the message is about (pitch key, reading or calibration id)
    duplicate: bool = False
    late: bool = False
    corruption: str | None = None


@dataclass(frozen=True)
class FeedItem:
    """An event to deliver: its JSON record (ingest_time still unset) and identity."""

    event_time: datetime
    kind: str
    key: str
    record: dict


def corrupt(record: dict, how: str, rng: random.Random) -> str:
    """A payload damaged the way `how` says; each one must end in quarantine with that reason."""
    text = json.dumps(record, separators=(",", ":"), default=str)
    if how == "truncated_json":
        return text[: rng.randint(5, max(6, len(text) - 5))]
    if how == "not_json":
        return "\x00\x17GARBLED " + "".join(rng.choice("abcdef0123456789") for _ in range(24))
    bad = dict(record)
    if how == "missing_key":
        required = [k for k in ("game_pk", "pitch_number", "event_time", "tracking_system_id") if k in bad]
        bad.pop(rng.choice(required))
    elif how == "out_of_range":
        if bad.get("kind") == "pitch":
            bad["release_speed"] = rng.choice([250.0, 12.0, -3.0])
        elif bad.get("kind") == "environment":
            bad["relative_humidity_pct"] = 140.0
        else:
            bad["event_time"] = "2020-13-45T99:00:00Z"
    elif how == "wrong_type":
        field = {"pitch": "release_speed", "environment": "temperature_c"}.get(bad.get("kind", ""), "event_time")
        bad[field] = {"release_speed": "fast", "temperature_c": "warm"}.get(field, 1599170000)
    elif how == "unknown_schema_version":
        bad["schema_version"] = 99
    elif how == "unknown_kind":
        bad["kind"] = "hit_tracking"
    else:
        raise ValueError(f"unknown corruption {how!r}")
    return json.dumps(bad, separators=(",", ":"), default=str)


def plan_deliveries(items: Sequence[FeedItem], model: LagModel) -> list[Delivery]:
    """Every message the feed will deliver for `items`, in delivery order."""
    rng = random.Random(model.seed)
    on_time: list[Delivery] = []
    late_items: list[tuple[FeedItem, float]] = []
    for item in items:
        text = json.dumps(item.record, separators=(",", ":"), default=str)
        if rng.random() < model.late_rate:
            late_items.append((item, rng.uniform(*model.late_extra_s)))
            continue
        delay = rng.uniform(model.min_delay_s, model.max_delay_s) + rng.gauss(0.0, model.jitter_s)
        at = item.event_time + timedelta(seconds=max(0.05, delay))
        on_time.append(Delivery(at, text, item.event_time, item.kind, item.key))
        if rng.random() < model.duplicate_rate:
            again = at + timedelta(seconds=rng.uniform(*model.duplicate_gap_s))
            on_time.append(Delivery(again, text, item.event_time, item.kind, item.key, duplicate=True))
        if rng.random() < model.malformed_rate:
            how = rng.choice(CORRUPTIONS)
            # the damaged copy comes first; the clean retransmission above follows it
            bad_at = at - timedelta(seconds=rng.uniform(0.01, 0.5))
            on_time.append(
                Delivery(bad_at, corrupt(item.record, how, rng), item.event_time, item.kind, item.key,
                         corruption=how)
            )
    on_time.sort(key=lambda d: (d.deliver_at, d.key, d.duplicate))
    # A late message arrives only once the feed has delivered something newer than its event time plus
    # the watermark delay (so the stream's watermark can have passed it), then some more seconds later.
    newest: list[datetime] = []  # newest event time delivered so far, after each on-time delivery
    for d in on_time:
        newest.append(d.event_time if not newest or d.event_time > newest[-1] else newest[-1])
    late: list[Delivery] = []
    for item, extra in late_items:
        horizon = item.event_time + timedelta(seconds=model.watermark_delay_s + model.max_delay_s)
        i = bisect_right(newest, horizon)
        base = max(horizon, on_time[i].deliver_at) if i < len(on_time) else horizon
        text = json.dumps(item.record, separators=(",", ":"), default=str)
        late.append(Delivery(base + timedelta(seconds=extra), text, item.event_time, item.kind, item.key,
                             late=True))
    out = on_time + late
    out.sort(key=lambda d: (d.deliver_at, d.key, d.duplicate))
    return out
