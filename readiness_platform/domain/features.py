"""Pitch-by-pitch features of a pitcher, as pure functions of the pitches before (and including) a pitch.

Order: within a game, pitches follow (at_bat_number, pitch_number); games follow (game_date, game_pk).
Every feature of pitch p is a function of the pitcher's pitches that precede or are p in that order, so
the order in which pitches *arrive* can never change a result (the stream recomputes on the watermark).

Windows are count windows over the current outing (game), per pitch family, skipping untracked pitches:
  velocity   last 5 tracked pitches of the primary fastball family: mean, minus the seasonal baseline,
             in mph and as a z-score against the pitcher's own 5-pitch noise (baseline.velo_sd5);
  spin       coefficient of variation of spin over the last 20 tracked pitches of the pitch's family;
  release    standard deviation (and variance) of release height over the last 25 pitches of the family.
A window holding fewer pitches than its size is reported with its count and `*_full = False`; its value is
computed from what is there (at least 2 pitches for a spread), never padded.
Workload counts every pitch, tracked or not, of the previous outings up to 1/3/7 days before the game; an
earlier game of the same day (a doubleheader) counts as day 0: it is in every window and makes a back-to-back.
Late-data awareness: within each at-bat, pitch numbers run 1..n without gaps, so a gap is a pitch the
platform has not received (yet): `missing_pitches` and `late_fraction` = missing / (received + missing) over
the outing so far. The outing's first at-bat counts from its first pitch received: a reliever who enters in
the middle of an at-bat did not throw its earlier pitches (so a missing first pitch of an outing cannot be
seen; every later one can).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from readiness_platform.domain.pitch_types import FASTBALL_FAMILIES, PitchFamily

VELOCITY_WINDOW = 5
SPIN_WINDOW = 20
RELEASE_WINDOW = 25
WORKLOAD_DAYS = 7
REST_HORIZON_DAYS = 8  # outings further back do not count: days_since_prev_outing is then None
FASTBALL_PREFERENCE = (PitchFamily.FOUR_SEAM, PitchFamily.SINKER, PitchFamily.CUTTER)


class PitchObs(NamedTuple):
    """What the features need of one pitch. A named tuple: immutable like the frozen dataclasses here, and
    built in 0.28 us instead of 1.03 us - the stream builds one per pitch of the game in play per pitcher
    and micro-batch (the processor's Python per call 683 -> 646 us, benchmarks/state_bench.py)."""

    game_pk: int
    at_bat_number: int
    pitch_number: int
    game_date: date
    event_time: datetime
    pitch_family: str
    release_speed: float | None
    release_spin_rate: float | None
    release_pos_z: float | None

    @property
    def order(self) -> tuple:
        return (self.game_date, self.game_pk, self.at_bat_number, self.pitch_number)


@dataclass(frozen=True)
class Baseline:
    """A pitcher's seasonal reference for one pitch family (see domain.baselines)."""

    pitch_family: str
    n: int
    velo_mean: float | None
    velo_sd: float | None
    velo_sd5: float | None  # SD of a 5-pitch mean around the season mean: the z-score's unit
    spin_mean: float | None
    spin_cv: float | None  # typical 20-pitch spin CV
    release_z_mean: float | None
    release_z_sd: float | None
    pfx_z_adj_mean: float | None
    spin_cv_p90: float | None = None  # 90th percentile of 20-pitch spin CV: the top of his ordinary spread
    release_z_sd_p90: float | None = None  # 90th percentile of 25-pitch release-height SD, ft
    outing_pitches_p50: float | None = None  # median pitches of his outings that season (every family's row)


@dataclass(frozen=True)
class Outing:
    """A previous appearance: when, and how many pitches."""

    game_date: date
    game_pk: int
    pitches: int


@dataclass(frozen=True)
class WindowFeatures:
    pitch_count_game: int
    primary_fastball: str | None
    fb_window_n: int
    fb_window_full: bool
    fb_velo_mean5: float | None
    velo_delta_mph: float | None
    velo_z: float | None
    spin_window_n: int
    spin_window_full: bool
    spin_cv: float | None
    release_window_n: int
    release_window_full: bool
    release_height_sd_ft: float | None
    release_height_var_ft2: float | None
    pitches_last_1d: int
    pitches_last_3d: int
    pitches_last_7d: int
    days_since_prev_outing: int | None
    back_to_back: bool
    third_straight_day: bool
    missing_pitches: int
    late_fraction: float


def sample_sd(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1), in floats: statistics.stdev works in exact fractions, which was
    ~40 % of the pitcher state's time (profiled); the two agree to ~1e-15 relative here."""
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _tracked(v: float | None) -> bool:
    return v is not None and v == v  # NaN != NaN: untracked


def last_tracked(outing: Sequence[PitchObs], family: str, measure: str, size: int) -> list[float]:
    """The last `size` tracked values (not None, not NaN) of `measure` among the outing's pitches of
    `family`, in pitch order. Read from the end: a window costs its own length, not the outing's."""
    out = []
    for q in reversed(outing):
        if q.pitch_family == family:
            v = getattr(q, measure)
            if _tracked(v):
                out.append(v)
                if len(out) == size:
                    break
    out.reverse()
    return out


def primary_fastball(baselines: dict[str, Baseline], outing: Sequence[PitchObs]) -> str | None:
    """The fastball family the pitcher throws most: from the season baseline, else from this outing."""
    counts = _baseline_fastballs(baselines) or Counter(
        p.pitch_family for p in outing if p.pitch_family in FASTBALL_FAMILIES and p.release_speed is not None)
    return _most_thrown(counts)


def _baseline_fastballs(baselines: dict[str, Baseline]) -> dict[str, int]:
    return {b.pitch_family: b.n for b in baselines.values() if b.pitch_family in FASTBALL_FAMILIES}


def _most_thrown(counts: dict[str, int]) -> str | None:
    if not counts:
        return None
    best = max(counts.values())
    return next(str(f) for f in FASTBALL_PREFERENCE if counts.get(f, 0) == best)


def workload(game_date: date, game_pk: int, outings: Sequence[Outing]) -> dict:
    """Pitches thrown on the days before this game, and rest, from previous outings."""
    before = [o for o in outings if (o.game_date, o.game_pk) < (game_date, game_pk)
              and (game_date - o.game_date).days <= REST_HORIZON_DAYS]
    def pitches_within(days: int) -> int:
        return sum(o.pitches for o in before if (game_date - o.game_date).days <= days)
    days_since = min(((game_date - o.game_date).days for o in before), default=None)
    pitched = {(game_date - o.game_date).days for o in before}
    return {
        "pitches_last_1d": pitches_within(1),
        "pitches_last_3d": pitches_within(3),
        "pitches_last_7d": pitches_within(WORKLOAD_DAYS),
        "days_since_prev_outing": days_since,
        "back_to_back": 0 in pitched or 1 in pitched,
        "third_straight_day": 1 in pitched and 2 in pitched,
    }


def missing_in(outing: Sequence[PitchObs]) -> tuple[int, int]:
    """(received, missing) pitches over the outing (in pitch order): gaps in each at-bat's pitch numbers, the
    outing's first at-bat counted from its first pitch received."""
    seen = {(p.at_bat_number, p.pitch_number) for p in outing}
    last: dict[int, int] = {}
    for at_bat, pitch in seen:
        if pitch > last.get(at_bat, 0):
            last[at_bat] = pitch
    entered = outing[0].pitch_number - 1 if outing else 0  # pitches of his first at-bat before he came in
    return len(outing), sum(last.values()) - entered - len(seen)


def window_features(outing: Sequence[PitchObs], outings: Sequence[Outing], baselines: dict[str, Baseline]) -> WindowFeatures:
    """Features of the last pitch of `outing` (the outing's pitches up to it, in pitch order): the
    definition. `outing_windows` computes the same for many pitches of one outing in one pass."""
    p = outing[-1]
    fb = primary_fastball(baselines, outing)
    family = p.pitch_family if p.pitch_family != PitchFamily.UNKNOWN else None
    return _assemble(
        p, fb,
        last_tracked(outing, fb, "release_speed", VELOCITY_WINDOW) if fb else [],
        last_tracked(outing, family, "release_spin_rate", SPIN_WINDOW) if family is not None else [],
        last_tracked(outing, family, "release_pos_z", RELEASE_WINDOW) if family is not None else [],
        missing_in(outing), workload(p.game_date, p.game_pk, outings), baselines,
    )


def _assemble(p: PitchObs, fb: str | None, fb_speeds: list[float], spins: list[float], heights: list[float],
              received_missing: tuple[int, int], work: dict, baselines: dict[str, Baseline]) -> WindowFeatures:
    """WindowFeatures of pitch p from its windows (each in pitch order), its outing's counts and workload."""
    fb_mean = statistics.fmean(fb_speeds) if fb_speeds else None
    base = baselines.get(fb) if fb else None
    delta = fb_mean - base.velo_mean if fb_mean is not None and base and base.velo_mean is not None else None
    z = delta / base.velo_sd5 if delta is not None and base and base.velo_sd5 else None
    spin_cv = sample_sd(spins) / statistics.fmean(spins) if len(spins) >= 2 and statistics.fmean(spins) > 0 else None
    height_sd = sample_sd(heights) if len(heights) >= 2 else None
    received, missing = received_missing
    return WindowFeatures(
        pitch_count_game=received,
        primary_fastball=fb,
        fb_window_n=len(fb_speeds),
        fb_window_full=len(fb_speeds) == VELOCITY_WINDOW,
        fb_velo_mean5=fb_mean,
        velo_delta_mph=delta,
        velo_z=z,
        spin_window_n=len(spins),
        spin_window_full=len(spins) == SPIN_WINDOW,
        spin_cv=spin_cv,
        release_window_n=len(heights),
        release_window_full=len(heights) == RELEASE_WINDOW,
        release_height_sd_ft=height_sd,
        release_height_var_ft2=None if height_sd is None else height_sd**2,
        missing_pitches=missing,
        late_fraction=missing / (received + missing) if received + missing else 0.0,
        **work,
    )


def outing_windows(outing: Sequence[PitchObs], positions: Iterable[int], outings: Sequence[Outing],
                   baselines: dict[str, Baseline]) -> dict[int, WindowFeatures]:
    """`window_features(outing[: i + 1], outings, baselines)` for each i of `positions`, in one pass over
    the outing: each family's tracked values, the fastball counts and the at-bats' pitch numbers are kept
    up to date pitch by pitch, so a pitch costs its windows, not its outing (window_features reads the
    whole prefix for its gaps and fastball counts: quadratic in a game). The windows are the same values in
    the same order, and go through the same arithmetic (`_assemble`): the results are equal, not close
    (tests/domain/test_features.py checks every pitch of the corpus)."""
    wanted = set(positions)
    out: dict[int, WindowFeatures] = {}
    if not wanted:
        return out
    fixed_fb = _baseline_fastballs(baselines)
    fb_counts: dict[str, int] = {}  # tracked fastballs of the outing so far, when the baselines name none
    values: dict[str, tuple[list, list, list]] = {}  # family -> tracked speeds, spins, heights so far
    seen: set[tuple[int, int]] = set()
    last: dict[int, int] = {}  # at-bat -> highest pitch number seen
    numbered = 0  # sum of `last`: pitches the at-bats have had so far
    works: dict[tuple, dict] = {}
    entered = outing[0].pitch_number - 1 if outing else 0  # as missing_in: his first at-bat from his first pitch
    top = max(wanted)
    for i, q in enumerate(outing[: top + 1]):
        key = (q.at_bat_number, q.pitch_number)
        if key not in seen:
            seen.add(key)
            if q.pitch_number > last.get(q.at_bat_number, 0):
                numbered += q.pitch_number - last.get(q.at_bat_number, 0)
                last[q.at_bat_number] = q.pitch_number
        if q.pitch_family in FASTBALL_FAMILIES and q.release_speed is not None:
            fb_counts[q.pitch_family] = fb_counts.get(q.pitch_family, 0) + 1
        tracked = values.get(q.pitch_family)
        if tracked is None:
            tracked = values[q.pitch_family] = ([], [], [])
        speed, spin, height = q.release_speed, q.release_spin_rate, q.release_pos_z
        if speed is not None and speed == speed:  # _tracked, inlined: this runs per pitch held per call
            tracked[0].append(speed)
        if spin is not None and spin == spin:
            tracked[1].append(spin)
        if height is not None and height == height:
            tracked[2].append(height)
        if i not in wanted:
            continue
        fb = _most_thrown(fixed_fb or fb_counts)
        own = values.get(q.pitch_family) if q.pitch_family != PitchFamily.UNKNOWN else None
        game = (q.game_date, q.game_pk)
        if game not in works:
            works[game] = workload(q.game_date, q.game_pk, outings)
        out[i] = _assemble(
            q, fb,
            values[fb][0][-VELOCITY_WINDOW:] if fb in values else [],
            own[1][-SPIN_WINDOW:] if own else [],
            own[2][-RELEASE_WINDOW:] if own else [],
            (i + 1, numbered - entered - len(seen)), works[game], baselines,
        )
    return out


def outing_features(pitches: Sequence[PitchObs], outings: Sequence[Outing],
                    baselines: dict[str, Baseline]) -> list[tuple[PitchObs, WindowFeatures]]:
    """Features of every pitch of one outing (any order in, pitch order out), duplicates dropped."""
    unique = sorted({(p.at_bat_number, p.pitch_number): p for p in pitches}.values(), key=lambda p: p.order)
    windows = outing_windows(unique, range(len(unique)), outings, baselines)
    return [(p, windows[i]) for i, p in enumerate(unique)]


GAME_STATE_HOURS = 4  # a game's pitches are kept this long after its last pitch (event time), then summarized


def pitcher_history(pitches: Sequence[PitchObs], baselines: dict[int, dict[str, Baseline]],
                    by_game: dict[tuple[date, int], dict[str, Baseline]] | None = None
                    ) -> list[tuple[PitchObs, WindowFeatures]]:
    """Features of every pitch of one pitcher, all games, as the stream's final rows compute them:
    each game sees the previous games (within REST_HORIZON_DAYS) as outings of their received pitches.
    `baselines` maps a season to that season's baselines by family; `by_game`, a (game_date, game_pk) to
    the baselines of that game (walk-forward: from the games before it), in place of its season's."""
    games: dict[tuple[date, int], list[PitchObs]] = {}
    for p in pitches:
        games.setdefault((p.game_date, p.game_pk), []).append(p)
    out: list[tuple[PitchObs, WindowFeatures]] = []
    outings: list[Outing] = []
    for (game_date, game_pk), game in sorted(games.items()):
        own = by_game.get((game_date, game_pk), {}) if by_game is not None else baselines.get(game_date.year, {})
        out.extend(outing_features(game, outings, own))
        outings.append(Outing(game_date, game_pk, len({(p.at_bat_number, p.pitch_number) for p in game})))
    return out
