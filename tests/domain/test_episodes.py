"""Hand-worked sequences of alert episodes: opened once, escalated once, closed after a clear stretch."""

from __future__ import annotations

from datetime import datetime, timedelta

from readiness_platform.domain.alerts import data_quality, pitcher_alert
from readiness_platform.domain.episodes import (
    CLEAR_STEPS_TO_CLOSE,
    State,
    advance,
    condition_step,
    episodes,
    latest,
    pitcher_step,
)

T0 = datetime(2020, 9, 3, 23, 0)


def steps(readiness: list[float]) -> list:
    out = []
    for i, r in enumerate(readiness):
        a = pitcher_alert(r, None, False, 50)
        out.append(pitcher_step(T0 + timedelta(seconds=25 * i), (1, 1 + i // 5, 1 + i % 5), a, r))
    return out


def events(readiness: list[float]) -> list[tuple[str, int]]:
    """(event, index of the step it happened at) of each transition."""
    seq = steps(readiness)
    index = {s.pitch: i for i, s in enumerate(seq)}
    transitions, _ = episodes("p", seq)
    return [(t.event, index[t.pitch]) for t in transitions]


def test_a_dip_below_80_is_one_episode_however_many_pitches_it_lasts():
    readiness = [90, 78, 77, 79, 76, 78] + [85] * CLEAR_STEPS_TO_CLOSE
    assert events(readiness) == [("opened", 1), ("closed", 10)]


def test_it_escalates_once_and_never_back_down():
    readiness = [79, 59, 70, 58, 57] + [90] * 5
    transitions, _ = episodes("p", steps(readiness))
    assert [t.event for t in transitions] == ["opened", "escalated", "closed"]
    ep = latest(transitions)[0]
    assert (ep.level, ep.status, ep.steps) == ("critical", "closed", 10)
    assert ep.reasons == ("readiness 79.0 < 80",)  # one reason per kind: the first seen


def test_hovering_just_above_80_does_not_close_it():
    # 81-82 is ok but not clear (80 + 3): the count toward closing never reaches 5, a new dip restarts it.
    readiness = [79, 81, 82, 81, 82, 81, 85, 85, 85, 85, 79, 85, 85, 85, 85, 85]
    assert events(readiness) == [("opened", 0), ("closed", 15)]


def test_a_new_dip_after_closing_is_a_new_episode_with_its_own_id():
    readiness = [79] + [90] * 5 + [75]
    transitions, state = episodes("p", steps(readiness))
    assert [t.event for t in transitions] == ["opened", "closed", "opened"]
    ids = [e.episode_id for e in latest(transitions)]
    assert ids == ["p/1-1-1", "p/1-2-2"] and state.episode.status == "open"


def test_step_by_step_equals_the_whole_sequence():
    readiness = [90, 79, 59, 85, 85, 85, 85, 85, 70, 90, 90]
    state, one_by_one = State(), []
    for s in steps(readiness):
        state, t = advance("p", state, s)
        one_by_one += [t] if t else []
    assert (one_by_one, state) == episodes("p", steps(readiness))


def test_a_system_condition_closes_when_clear_whatever_the_readiness():
    confidences = [0.9, 0.79, 0.75, 0.59] + [0.95] * CLEAR_STEPS_TO_CLOSE
    seq = [condition_step(T0 + timedelta(minutes=i), (1, 1, i + 1), data_quality(calibration_confidence=c))
           for i, c in enumerate(confidences)]
    transitions, _ = episodes("system/busch_iii", seq)
    assert [(t.event, t.pitch[2]) for t in transitions] == [("opened", 2), ("escalated", 4), ("closed", 9)]
