"""Synthetic live load drawn from the real corpus: N pitchers, R events per second, event time = now.

Each synthetic pitcher takes the pitch pool of one real pitcher of the corpus; every pitch it throws is a
real tracked pitch of that pool (all measurements of one real row together, so their joint distribution
is the real one), given a fresh key and the current time. Messages go through the same lag model as the
replay (delivery 2-5 s after the pitch, jitter, duplicates, late and damaged messages).
"""

from __future__ import annotations

import random
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from readiness_platform.domain.events import TrackedPitch
from readiness_platform.replay.feed import Session, environment_readings, pitch_key
from readiness_platform.replay.lag import Delivery, FeedItem, LagModel, plan_deliveries
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import FeedSink, LandingFolderSink
from readiness_platform.replay.statcast import load_pitches, statcast_files

SYNTHETIC_GAME_PK = 900_000_000
PITCHES_PER_GAME = 100  # a starter's outing; the next one is a new game


def pitch_pools(statcast_dir: Path, min_pitches: int = 100) -> list[list[TrackedPitch]]:
    """Real pitchers' pitches, one pool per pitcher with enough of them, most pitches first."""
    pools: dict[int, list[TrackedPitch]] = defaultdict(list)
    for p in load_pitches(statcast_files(statcast_dir)):
        pools[p.pitcher_id].append(p)
    return sorted((v for v in pools.values() if len(v) >= min_pitches), key=len, reverse=True)


def synthetic_items(pools: list[list[TrackedPitch]], pitchers: int, rate: float, duration_s: float,
                    start: datetime, seed: int = 7, first_pitcher: int = 0) -> list[FeedItem]:
    """`rate` events per second for `duration_s`, spread over `pitchers` synthetic pitchers, from `start`.
    Pitchers are numbered from `first_pitcher` (a second load into the same stream takes new ones)."""
    rng = random.Random(seed)
    items: list[FeedItem] = []
    counters = [0] * pitchers
    systems = "busch_iii"
    n = int(rate * duration_s)
    for i in range(n):
        t = start + timedelta(seconds=i / rate)
        who = i % pitchers
        real = rng.choice(pools[who % len(pools)])
        counters[who] += 1
        game, in_game = divmod(counters[who] - 1, PITCHES_PER_GAME)  # an outing of a real length
        at_bat, pitch_no = divmod(in_game, 4)
        pitch = real.model_copy(update={
            "game_pk": SYNTHETIC_GAME_PK + (first_pitcher + who) * 10_000 + game,
            "at_bat_number": at_bat + 1,
            "pitch_number": pitch_no + 1,
            "game_date": t.date(),
            "event_time": t,
            "pitcher_id": SYNTHETIC_GAME_PK + first_pitcher + who,
            "home_team": "STL",
            "tracking_system_id": systems,
        })
        items.append(FeedItem(t, "pitch", pitch_key(pitch), pitch.model_dump(mode="json", exclude={"ingest_time"})))
    session = Session(systems, "STL", start, start + timedelta(seconds=duration_s))
    for r in environment_readings(session, 60.0, rng):
        items.append(FeedItem(r.event_time, "environment", f"{systems}@{r.event_time.isoformat()}",
                              r.model_dump(mode="json", exclude={"ingest_time"})))
    items.sort(key=lambda it: (it.event_time, it.kind, it.key))
    return items


def run_load(landing: Path, statcast_dir: Path, pitchers: int, rate: float, duration_s: float,
             lag: LagModel, sink: FeedSink | None = None, first_pitcher: int = 0) -> list[Delivery]:
    """Generate and deliver the load in real time (speed-up 1), starting now; the plan delivered."""
    pools = pitch_pools(statcast_dir)
    start = datetime.now(timezone.utc)
    items = synthetic_items(pools, pitchers, rate, duration_s, start, lag.seed, first_pitcher)
    plan = plan_deliveries(items, lag)
    # the plan starts at the first delivery (2-5 s after `start`): wait so feed time tracks the wall
    wait = (plan[0].deliver_at - datetime.now(timezone.utc)).total_seconds()
    if wait > 0:
        time.sleep(wait)
    play(plan, sink or LandingFolderSink(landing), speedup=1.0, flush_every_s=0.1, max_idle_s=60.0)
    return plan


if __name__ == "__main__":
    landing, statcast, pitchers, rate, duration = sys.argv[1:6]
    first = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    run_load(Path(landing), Path(statcast), int(pitchers), float(rate), float(duration), LagModel(),
             first_pitcher=first)
