"""The pitchers' state processor's own Python per call (transforms.features.PitcherFeatures), without Spark:
real outings of the corpus (every game of 60 pitches or more, at most 60 of them) fed to the processor a few
pitches at a time, the watermark one chunk behind, through an in-memory value state (one per pitcher group,
as in the stream) and timer handle. Spark's
part of a call (state round trips, rows in and out) is not in it: this is the share the project's code owns.

    python -m benchmarks.state_bench [--chunk 5] [--games 60] [--rounds 5]

Prints microseconds per call (the best of the rounds), rows emitted, and the held state's mean size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from pyspark.sql import Row

from readiness_platform.replay.statcast import load_pitches, statcast_files
from readiness_platform.settings import get_settings
from readiness_platform.transforms.features import PITCH_NAMES, GroupState, PitcherFeatures, pitcher_group

EPOCH = datetime(1970, 1, 1)


class ValueState:
    def __init__(self) -> None:
        self.value: tuple | None = None

    def get(self) -> tuple | None:
        return self.value

    def update(self, value: tuple) -> None:
        self.value = value


class Handle:
    def registerTimer(self, at: int) -> None:  # noqa: N802 - PySpark's names
        pass

    def deleteTimer(self, at: int) -> None:  # noqa: N802
        pass


class TimerValues:
    def __init__(self, watermark: int) -> None:
        self.watermark = watermark

    def getCurrentWatermarkInMs(self) -> int:  # noqa: N802
        return self.watermark


def calls(games: int, chunk: int) -> list[tuple[int, list[Row], int]]:
    """(pitcher, rows, watermark ms) of each call: a game's pitches in chunks, the watermark one chunk behind."""
    outings: dict[tuple, list] = {}
    for p in load_pitches(statcast_files(get_settings().statcast_dir)):
        outings.setdefault((p.pitcher_id, p.game_pk), []).append(p)
    out = []
    for outing in [o for o in outings.values() if len(o) >= 60][:games]:
        outing.sort(key=lambda p: (p.at_bat_number, p.pitch_number))
        rows = []
        for p in outing:
            t = p.event_time.replace(tzinfo=None)
            values = {"pitcher_id": p.pitcher_id, "game_pk": p.game_pk, "at_bat_number": p.at_bat_number,
                      "pitch_number": p.pitch_number, "game_date": p.game_date, "event_time": t,
                      "ingest_time": t + timedelta(seconds=3), "pitch_family": str(p.pitch_family),
                      "release_speed": p.release_speed, "release_spin_rate": p.release_spin_rate,
                      "release_pos_z": p.release_pos_z, "pfx_x": p.pfx_x, "pfx_z": p.pfx_z,
                      "tracking_system_id": p.tracking_system_id, "home_team": p.home_team}
            rows.append(Row(**{n: values[n] for n in ("pitcher_id", *PITCH_NAMES)}))
        for i in range(0, len(rows), chunk):
            behind = rows[i - chunk].event_time if i else None
            watermark = (behind - EPOCH) // timedelta(milliseconds=1) - 1 if behind else -1
            out.append((outing[0].pitcher_id, rows[i:i + chunk], watermark))
    return out


def run(work: list[tuple[int, list[Row], int]]) -> tuple[float, int, dict[int, ValueState]]:
    processor = PitcherFeatures({})
    processor.handle = Handle()
    states: dict[int, ValueState] = {}
    emitted = 0
    started = time.perf_counter()
    for pitcher, rows, watermark in work:
        group = pitcher_group(pitcher)
        processor.state = states.setdefault(group, ValueState())
        out: Iterator[Row] = processor.handleInputRows((group,), iter(rows), TimerValues(watermark))
        emitted += sum(1 for _ in out)
    return time.perf_counter() - started, emitted, states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunk", type=int, default=5, help="pitches of a pitcher per call")
    parser.add_argument("--games", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = calls(args.games, args.chunk)
    runs = [run(work) for _ in range(args.rounds)]
    best, (_, emitted, states) = min(seconds for seconds, _, _ in runs), runs[-1]
    held = [json for s in states.values() if s.value for json in GroupState(s.value).states.values()]
    size = sum(map(len, held)) / max(1, len(held))
    print(f"pitchers' state: {len(work)} calls of {args.chunk} pitches, {emitted} rows emitted, "
          f"{best / len(work) * 1e6:.0f} us a call (best of {args.rounds}), state {size:,.0f} bytes a pitcher")


if __name__ == "__main__":
    main()
