"""Seasonal baselines: a pitcher's own reference, per season and pitch family, for the z-scores.

Each game's first 10 pitches are left out (the softest of the game; README of the data) and a family
needs at least 30 tracked pitches after that, or it gets no baseline (its deltas stay empty rather than
compared with a guess). Besides means, a baseline keeps the pitcher's own noise at the features' scale:
  velo_sd5      SD of 5-pitch rolling means around the season mean (what a 5-pitch window wobbles by);
  spin_cv       median CV of 20-pitch rolling windows (a typical in-game spin spread);
  release_z_sd  median SD of 25-pitch rolling windows of release height;
  *_p90         the 90th percentile of those windows: the top of his ordinary spread (model v2n);
  outing_pitches_p50   the median pitch count of his outings that season, first pitches included (v2n's
                typical outing length; the same on each family's row).
A baseline is only as free of look-ahead as the pitches it is given: the Dagster asset computes it from
bronze up to its run, the back-test from the games before each game (walk-forward).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from readiness_platform.domain.features import RELEASE_WINDOW, SPIN_WINDOW, VELOCITY_WINDOW, Baseline, sample_sd

SKIP_FIRST_PITCHES = 10
MIN_PITCHES = 30


@dataclass(frozen=True)
class BaselinePitch:
    """What a baseline needs of a pitch (pfx_z already in reference air: domain.air)."""

    pitcher_id: int
    game_pk: int
    game_date: date
    at_bat_number: int
    pitch_number: int
    pitch_family: str
    release_speed: float | None
    release_spin_rate: float | None
    release_pos_z: float | None
    pfx_z_adj: float | None


def _rolling(values: Sequence[float], size: int) -> list[list[float]]:
    return [list(values[i : i + size]) for i in range(len(values) - size + 1)]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _p90(values: list[float]) -> float | None:
    """The 90th percentile (linear between order statistics); None below 10 values."""
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) >= 10 else None


def family_baseline(family: str, games: list[list[BaselinePitch]]) -> Baseline | None:
    """One family's baseline from its pitches, grouped by game in pitch order (first pitches already left out)."""
    speeds_by_game = [[p.release_speed for p in g if p.release_speed is not None] for g in games]
    speeds = [s for g in speeds_by_game for s in g]
    if len(speeds) < MIN_PITCHES:
        return None
    velo_mean = statistics.fmean(speeds)
    deviations = [statistics.fmean(w) - velo_mean for g in speeds_by_game for w in _rolling(g, VELOCITY_WINDOW)]
    spins_by_game = [[p.release_spin_rate for p in g if p.release_spin_rate is not None] for g in games]
    spins = [s for g in spins_by_game for s in g]
    spin_cvs = [sample_sd(w) / statistics.fmean(w) for g in spins_by_game for w in _rolling(g, SPIN_WINDOW)]
    heights_by_game = [[p.release_pos_z for p in g if p.release_pos_z is not None] for g in games]
    heights = [h for g in heights_by_game for h in g]
    height_sds = [sample_sd(w) for g in heights_by_game for w in _rolling(g, RELEASE_WINDOW)]
    breaks = [p.pfx_z_adj for g in games for p in g if p.pfx_z_adj is not None]
    return Baseline(
        pitch_family=family,
        n=len(speeds),
        velo_mean=velo_mean,
        velo_sd=sample_sd(speeds),
        velo_sd5=statistics.pstdev(deviations) if len(deviations) >= 5 else None,
        spin_mean=statistics.fmean(spins) if spins else None,
        spin_cv=_median(spin_cvs) if spin_cvs else (
            sample_sd(spins) / statistics.fmean(spins) if len(spins) >= 2 else None),
        release_z_mean=statistics.fmean(heights) if heights else None,
        release_z_sd=_median(height_sds) if height_sds else (sample_sd(heights) if len(heights) >= 2 else None),
        pfx_z_adj_mean=statistics.fmean(breaks) if breaks else None,
        spin_cv_p90=_p90(spin_cvs),
        release_z_sd_p90=_p90(height_sds),
    )


def pitcher_season_baselines(pitches: Iterable[BaselinePitch]) -> dict[str, Baseline]:
    """Baselines of one pitcher's season, by family."""
    games: dict[int, list[BaselinePitch]] = defaultdict(list)
    for p in pitches:
        games[p.game_pk].append(p)
    by_family: dict[str, list[list[BaselinePitch]]] = defaultdict(list)
    for game in games.values():
        ordered = sorted(game, key=lambda p: (p.at_bat_number, p.pitch_number))[SKIP_FIRST_PITCHES:]
        split: dict[str, list[BaselinePitch]] = defaultdict(list)
        for p in ordered:
            split[p.pitch_family].append(p)
        for family, fam_pitches in split.items():
            by_family[family].append(fam_pitches)
    outing = statistics.median(len({(p.at_bat_number, p.pitch_number) for p in g}) for g in games.values()) \
        if games else None
    out = {}
    for family, fam_games in by_family.items():
        baseline = family_baseline(family, sorted(fam_games, key=lambda g: (g[0].game_date, g[0].game_pk)))
        if baseline is not None:
            out[family] = replace(baseline, outing_pitches_p50=float(outing) if outing is not None else None)
    return out
