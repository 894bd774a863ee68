"""Hand-worked cases of the window features."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from readiness_platform.domain.features import (
    Baseline,
    Outing,
    PitchObs,
    outing_features,
    outing_windows,
    pitcher_history,
    window_features,
)

D = date(2019, 8, 13)


def pitch(n: int, family: str = "four_seam", speed: float | None = 95.0, spin: float | None = 2300.0,
          z: float | None = 6.0, at_bat: int = 1, day: date = D, game: int = 1) -> PitchObs:
    return PitchObs(game, at_bat, n, day, datetime(2019, 8, 13, 23, 0) + timedelta(seconds=25 * n), family,
                    speed, spin, z)


BASE = {"four_seam": Baseline("four_seam", 800, 94.0, 2.0, 1.0, 2300.0, 0.03, 6.0, 0.1, 14.0)}


def test_velocity_is_the_last_five_tracked_primary_fastballs_against_the_baseline():
    speeds = [95, 94, 93, 92, 91, 90]
    outing = [pitch(i + 1, speed=s) for i, s in enumerate(speeds)]
    outing.insert(3, pitch(20, family="slider", speed=84.0))  # another family: not in the window
    outing.append(pitch(21, speed=None, spin=None))  # untracked: skipped, never read as 0
    wf = window_features(sorted(outing, key=lambda p: p.order), [], BASE)
    assert wf.primary_fastball == "four_seam"
    assert (wf.fb_window_n, wf.fb_window_full) == (5, True)
    assert wf.fb_velo_mean5 == pytest.approx(92.0)  # 94, 93, 92, 91, 90
    assert wf.velo_delta_mph == pytest.approx(-2.0)
    assert wf.velo_z == pytest.approx(-2.0)  # sd5 = 1.0 mph
    assert wf.pitch_count_game == 8  # workload counts every pitch


def test_a_window_not_yet_full_says_so_and_is_not_padded():
    wf = window_features([pitch(1, speed=95.0), pitch(2, speed=93.0)], [], BASE)
    assert (wf.fb_window_n, wf.fb_window_full, wf.fb_velo_mean5) == (2, False, 94.0)
    assert (wf.spin_window_n, wf.spin_window_full) == (2, False)


def test_without_a_baseline_there_is_no_delta_and_the_outing_names_the_fastball():
    wf = window_features([pitch(1, family="sinker"), pitch(2, family="sinker"), pitch(3, family="four_seam")], [], {})
    assert wf.primary_fastball == "sinker" and wf.velo_delta_mph is None and wf.velo_z is None


def test_spin_cv_and_release_height_spread_per_family():
    outing = [pitch(1, spin=2000.0, z=6.0), pitch(2, spin=2100.0, z=6.1), pitch(3, family="slider", z=5.0),
              pitch(4, spin=2200.0, z=6.2)]
    wf = window_features(outing, [], BASE)
    assert wf.spin_cv == pytest.approx(100.0 / 2100.0)  # sample SD 100 rpm over mean 2100 rpm
    assert wf.release_height_sd_ft == pytest.approx(0.1)  # the slider's 5.0 ft is another family
    assert wf.release_height_var_ft2 == pytest.approx(0.01)


def test_workload_from_previous_outings():
    outings = [Outing(D - timedelta(days=1), 10, 20), Outing(D - timedelta(days=2), 9, 15),
               Outing(D - timedelta(days=5), 8, 30), Outing(D - timedelta(days=9), 7, 99)]
    wf = window_features([pitch(1)], outings, BASE)
    assert (wf.pitches_last_1d, wf.pitches_last_3d, wf.pitches_last_7d) == (20, 35, 65)
    assert (wf.days_since_prev_outing, wf.back_to_back, wf.third_straight_day) == (1, True, True)
    rested = window_features([pitch(1)], [Outing(D - timedelta(days=9), 7, 99)], BASE)
    assert rested.days_since_prev_outing is None  # beyond the 8-day horizon
    assert not rested.back_to_back


def test_gaps_in_pitch_numbers_are_missing_data():
    wf = window_features([pitch(1), pitch(3), pitch(1, at_bat=2)], [], BASE)
    assert wf.missing_pitches == 1 and wf.late_fraction == pytest.approx(1 / 4)


def test_arrival_order_never_changes_a_result():
    outing = [pitch(i, speed=95 - i / 10, spin=2300 + (i % 3) * 20, at_bat=1 + i // 4) for i in range(1, 40)]
    expected = outing_features(outing, [], BASE)
    rng = random.Random(3)
    for _ in range(5):
        shuffled = outing[:]
        rng.shuffle(shuffled)
        assert outing_features(shuffled + shuffled[:5], [], BASE) == expected  # duplicates too


def test_history_sees_earlier_games_as_outings():
    yesterday = [pitch(i, day=D - timedelta(days=1), game=1) for i in range(1, 16)]
    today = [pitch(i, game=2) for i in range(1, 4)]
    rows = pitcher_history(today + yesterday, {2019: BASE})
    last = rows[-1][1]
    assert (last.pitches_last_1d, last.back_to_back, last.pitch_count_game) == (15, True, 3)


@pytest.fixture(scope="module")
def corpus_outings() -> list[list[PitchObs]]:
    """Every outing of the real corpus (../shared/data/statcast), each in pitch order."""
    from readiness_platform.replay.statcast import load_pitches, statcast_files
    from readiness_platform.settings import get_settings

    outings: dict[tuple, list[PitchObs]] = {}
    for p in load_pitches(statcast_files(get_settings().statcast_dir)):
        outings.setdefault((p.pitcher_id, p.game_pk), []).append(
            PitchObs(p.game_pk, p.at_bat_number, p.pitch_number, p.game_date, p.event_time.replace(tzinfo=None),
                     str(p.pitch_family), p.release_speed, p.release_spin_rate, p.release_pos_z))
    return [sorted(o, key=lambda p: p.order) for o in outings.values()]


TWO_FASTBALLS = {"sinker": Baseline("sinker", 500, 93.0, 1.5, 0.8, 2150.0, 0.03, 5.8, 0.1, 8.0),
                 "cutter": Baseline("cutter", 500, 89.0, 1.5, 0.8, 2400.0, 0.03, 5.9, 0.1, 6.0)}


@pytest.mark.parametrize("baselines", [{}, BASE, TWO_FASTBALLS], ids=["no-baselines", "four-seam", "two-fastballs"])
def test_one_pass_windows_equal_the_definition_on_every_corpus_pitch(corpus_outings, baselines) -> None:
    """outing_windows (the stream's and the recompute's path) against window_features on each prefix: equal
    dataclasses, floats included, for every pitch of the corpus, and for outings with gaps and duplicates."""
    before = [Outing(D - timedelta(days=1), 7, 30), Outing(D - timedelta(days=3), 8, 95)]
    checked = untracked = 0
    for n, outing in enumerate(corpus_outings):
        cases = [outing]
        if n % 10 == 0:  # gaps (pitches not received) and duplicate arrivals, in pitch order
            cases.append(sorted([p for i, p in enumerate(outing) if i % 7 != 3] + outing[::9], key=lambda p: p.order))
        for case in cases:
            fast = outing_windows(case, range(len(case)), before, baselines)
            assert fast == {i: window_features(case[: i + 1], before, baselines) for i in range(len(case))}
            some = range(0, len(case), 4)
            assert outing_windows(case, some, before, baselines) == {i: fast[i] for i in some}
            checked += len(case)
            untracked += sum(p.release_spin_rate is None for p in case)
    assert checked > 13_691 and untracked > 0  # the whole corpus, untracked pitches among it


def test_a_reliever_entering_mid_at_bat_has_nothing_missing():
    # He comes in at pitch 3 of at-bat 5: pitches 1-2 were his predecessor's, not late data.
    entering = [pitch(3, at_bat=5), pitch(4, at_bat=5), pitch(1, at_bat=6), pitch(2, at_bat=6)]
    first = window_features(entering[:1], [], BASE)
    assert (first.missing_pitches, first.late_fraction) == (0, 0.0)
    assert window_features(entering, [], BASE).missing_pitches == 0
    gap = entering[:2] + [pitch(2, at_bat=6)]  # at-bat 6's first pitch has not arrived: that one is missing
    assert window_features(gap, [], BASE).missing_pitches == 1
    windows = outing_windows(gap, range(3), [], BASE)  # the one-pass path counts the same
    assert [windows[i].missing_pitches for i in range(3)] == [0, 0, 1]


def test_an_earlier_game_of_the_same_day_counts_in_the_workload():
    # Doubleheader: 20 pitches in game 1, then game 2 the same day; 15 pitches two days before.
    outings = [Outing(D, 1, 20), Outing(D - timedelta(days=2), 9, 15)]
    wf = window_features([pitch(1, game=2)], outings, BASE)
    assert (wf.pitches_last_1d, wf.pitches_last_3d, wf.pitches_last_7d) == (20, 35, 35)
    assert (wf.days_since_prev_outing, wf.back_to_back, wf.third_straight_day) == (0, True, False)
    first_game = window_features([pitch(1, game=1)], [Outing(D, 2, 30)], BASE)  # a later game is not before it
    assert (first_game.pitches_last_1d, first_game.days_since_prev_outing) == (0, None)
