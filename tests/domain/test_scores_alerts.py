"""Hand-worked cases of the indices and the staff's alert thresholds."""

from __future__ import annotations

import pytest

from readiness_platform.domain.alerts import data_quality, pitcher_alert
from readiness_platform.domain.scores import ScoreInputs, score


def inputs(**changes) -> ScoreInputs:
    values = dict(velo_z=-1.5, velo_window_full=True, spin_cv=None, spin_cv_typical=None, spin_window_full=False,
                  release_sd=None, release_sd_typical=None, release_window_full=False, break_delta_in=None,
                  pitch_count_game=80, pitches_last_3d=0, days_since_prev_outing=5, back_to_back=False,
                  third_straight_day=False, calibration_confidence=0.95, late_fraction=0.0)
    values.update(changes)
    return ScoreInputs(**values)


def test_a_starter_at_80_pitches_losing_one_and_a_half_sigma():
    s = score(inputs(), "v1")
    # velo 0.5, count (80-50)/60 = 0.5, rest 0.685^4 = 0.2202
    assert s.fatigue == pytest.approx(100 * (0.35 * 0.5 + 0.25 * 0.5))  # 30.0
    assert s.risk == pytest.approx(100 * (0.30 * 0.685**4 + 0.20 * 0.5))  # 16.606
    assert s.readiness == pytest.approx(100 - (0.65 * 30.0 + 0.35 * s.risk))  # 74.69
    top = max((d for d in s.drivers if d.score == "fatigue"), key=lambda d: d.points)
    assert (top.input, top.value, top.points) == ("velo", -1.5, pytest.approx(17.5))


def test_v2_discounts_what_drifting_cameras_saw():
    half_confident = inputs(calibration_confidence=0.725)  # weight (0.725 - 0.5) / 0.45 = 0.5
    v1, v2 = score(half_confident, "v1"), score(half_confident, "v2")
    assert v1.fatigue == pytest.approx(30.0)
    assert v2.data_confidence == pytest.approx(0.5)
    assert v2.fatigue == pytest.approx(100 * (0.35 * 0.25 + 0.25 * 0.5))  # velocity counts half; count does not
    assert score(inputs(late_fraction=0.5), "v2").data_confidence == pytest.approx(0.5)


def test_indices_move_the_right_way():
    readiness = [score(inputs(velo_z=z), "v1").readiness for z in (0.5, 0.0, -1.0, -2.0, -3.0, -4.0)]
    assert readiness == sorted(readiness, reverse=True) and readiness[0] > readiness[-2]
    fatigue = [score(inputs(pitch_count_game=n), "v1").fatigue for n in (20, 60, 90, 120)]
    assert fatigue == sorted(fatigue)
    risk = [score(inputs(days_since_prev_outing=d), "v1").risk for d in (1, 2, 3, 5)]
    assert risk == sorted(risk, reverse=True)
    tired_reliever = score(inputs(pitch_count_game=15, third_straight_day=True, back_to_back=True,
                                  days_since_prev_outing=1, pitches_last_3d=40), "v1")
    assert 0 <= tired_reliever.readiness < score(inputs(pitch_count_game=15), "v1").readiness <= 100


def test_every_index_stays_within_0_and_100():
    worst = score(inputs(velo_z=-9, spin_cv=0.2, spin_cv_typical=0.03, spin_window_full=True, release_sd=1.0,
                         release_sd_typical=0.1, release_window_full=True, break_delta_in=-9, pitch_count_game=140,
                         pitches_last_3d=200, days_since_prev_outing=0, back_to_back=True,
                         third_straight_day=True), "v1")
    assert (worst.fatigue, worst.risk, worst.readiness) == (pytest.approx(100), pytest.approx(100), pytest.approx(0))
    best = score(inputs(velo_z=1.0, pitch_count_game=1, days_since_prev_outing=None), "v1")
    assert (best.fatigue, best.risk, best.readiness) == (0.0, 0.0, 100.0)


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="v9"):
        score(inputs(), "v9")


@pytest.mark.parametrize(
    ("kwargs", "level", "reason"),
    [
        (dict(readiness=59.9), "critical", "readiness 59.9 < 60"),
        (dict(readiness=79.9), "warning", "readiness 79.9 < 80"),
        (dict(velo_delta_mph=-2.1), "warning", "velocity -2.1 mph < -2.0"),
        (dict(), "ok", None),
    ],
)
def test_pitcher_alert_thresholds_of_the_staff(kwargs, level, reason):
    values = dict(readiness=90.0, velo_delta_mph=-1.0, velo_window_full=True, pitch_count_game=40)
    values.update(kwargs)
    a = pitcher_alert(**values)
    assert a.level == level
    assert (reason in a.reasons) if reason else not a.reasons


@pytest.mark.parametrize(
    ("kwargs", "level", "reason"),
    [
        (dict(calibration_confidence=0.59), "critical", "calibration 0.59 < 0.6"),
        (dict(calibration_confidence=0.79), "warning", "calibration 0.79 < 0.8"),
        (dict(late_fraction=0.31), "critical", "late data 0.31 > 0.3"),
        (dict(late_fraction=0.21), "warning", "late data 0.21 > 0.2"),
        (dict(feature_qa=0.69), "critical", "feature QA 0.69 < 0.7"),  # the rule that never fired before
        (dict(), "ok", None),
    ],
)
def test_data_quality_thresholds_of_the_staff(kwargs, level, reason):
    values = dict(calibration_confidence=0.9, late_fraction=0.0, feature_qa=0.95)
    values.update(kwargs)
    a = data_quality(**values)
    assert a.level == level
    assert (reason in a.reasons) if reason else not a.reasons


def test_a_velocity_delta_needs_a_full_window_past_the_first_pitches():
    assert pitcher_alert(90.0, -2.5, velo_window_full=False, pitch_count_game=40).level == "ok"  # 1-4 fastballs
    assert pitcher_alert(90.0, -2.5, velo_window_full=True, pitch_count_game=10).level == "ok"  # baseline skips 1-10
    assert pitcher_alert(90.0, -2.5, velo_window_full=True, pitch_count_game=11).reasons == ("velocity -2.5 mph < -2.0",)


def test_a_drifting_camera_is_a_flag_beside_the_score_not_the_pitchers_alert():
    from readiness_platform.domain.features import WindowFeatures
    from readiness_platform.domain.readiness import Context, evaluate

    wf = WindowFeatures(40, "four_seam", 5, True, 94.0, 0.0, 0.0, 20, True, 0.03, 25, True, 0.1, 0.01,
                        0, 0, 0, 5, False, False, 0, 0.0)
    rows = evaluate("four_seam", None, None, wf, {}, Context(0.55, 1.2, False, None, None))
    assert {r["alert_level"] for r in rows} == {"ok"} and {r["data_quality"] for r in rows} == {"critical"}
    assert rows[0]["data_quality_reasons"] == ["calibration 0.55 < 0.6"] and rows[0]["alert_reasons"] == []


def test_v2n_costs_nothing_within_one_sigma_and_everything_at_three():
    parts = {z: score(inputs(velo_z=z, pitch_count_game=40, days_since_prev_outing=None), "v2n") for z in
             (0.5, -1.0, -2.0, -3.0, -4.0)}
    velo = {z: next(d.points for d in s.drivers if (d.score, d.input) == ("fatigue", "velo")) for z, s in parts.items()}
    assert velo == {0.5: 0.0, -1.0: 0.0, -2.0: pytest.approx(35 * 0.5), -3.0: pytest.approx(35.0),
                    -4.0: pytest.approx(35.0)}
    assert parts[-1.0].readiness == 100.0  # one sigma is his ordinary wobble


def test_v2n_counts_pitches_only_past_his_typical_outing():
    starter = dict(typical_outing_pitches=100.0, velo_z=0.0, days_since_prev_outing=None)
    assert score(inputs(pitch_count_game=100, **starter), "v2n").fatigue == 0.0
    # full 30 % of 100 = 30 pitches later: at 115 half of the count's 25 points
    assert score(inputs(pitch_count_game=115, **starter), "v2n").fatigue == pytest.approx(25 * 0.5)
    closer = dict(typical_outing_pitches=16.0, velo_z=0.0, days_since_prev_outing=None)  # at least 15 pitches
    assert score(inputs(pitch_count_game=31, **closer), "v2n").fatigue == pytest.approx(25.0)
    unknown = score(inputs(pitch_count_game=80, velo_z=0.0, days_since_prev_outing=None), "v2n")
    assert unknown.fatigue == pytest.approx(25 * 0.5)  # no history: v1's 50 -> 110


def test_v2n_judges_spread_against_his_90th_percentile_and_counts_back_to_back_once():
    spread = dict(spin_cv=0.04, spin_cv_typical=0.03, spin_cv_high=0.045, spin_window_full=True, velo_z=0.0,
                  pitch_count_game=1, days_since_prev_outing=None)
    assert score(inputs(**spread), "v1").fatigue == pytest.approx(10 * (0.04 / 0.03 - 1))
    assert score(inputs(**spread), "v2n").fatigue == 0.0  # below his p90: ordinary
    b2b = dict(back_to_back=True, days_since_prev_outing=1, velo_z=0.0, pitch_count_game=1)
    assert score(inputs(**b2b), "v1").risk == pytest.approx(100 * (0.30 * 1.0 + 0.10 * 0.5))
    assert score(inputs(**b2b), "v2n").risk == pytest.approx(100 * 0.30)  # rest already says it


def test_v2n_velocity_warning_needs_his_own_z_too():
    assert pitcher_alert(90.0, -2.4, True, 40, velo_z=-1.6, confirm_z=True).level == "ok"  # -2.4 mph, 1.6 sigma
    assert pitcher_alert(90.0, -2.4, True, 40, velo_z=-2.1, confirm_z=True).level == "warning"
    assert pitcher_alert(90.0, -1.9, True, 40, velo_z=-3.0, confirm_z=True).level == "ok"  # -2.0 mph still needed


def test_pregame_readiness_is_rest_and_workload_only():
    from readiness_platform.domain.scores import components, pregame_readiness

    # A full velocity drop at 110 pitches, one day of rest, 30 pitches in the last 3 days: velocity and count
    # are left out (they belong to the outing), rest (1.0) and workload (30 / 75 = 0.4) stay.
    x = inputs(velo_z=-3.0, pitch_count_game=110, days_since_prev_outing=1, pitches_last_3d=30)
    parts = components(x)
    assert parts["workload"][0] == pytest.approx(0.4)
    fatigue, risk = 100 * 0.15 * 0.4, 100 * (0.30 * 1.0 + 0.10 * 0.4)
    assert pregame_readiness(parts) == pytest.approx(100 - 0.65 * fatigue - 0.35 * risk)
    assert score(x, "v1").readiness < pregame_readiness(parts)
