"""When the pitchers' state folds a game into an outing summary before GAME_STATE_HOURS: hand-worked cases."""

from __future__ import annotations

from datetime import datetime, timedelta

from readiness_platform.transforms.features import PitcherFeatures

T0 = datetime(2026, 11, 30, 19, 0)


def _p(game: int, minute: int, final: bool) -> dict:
    return {"game_pk": game, "event_time": T0 + timedelta(minutes=minute), "final": final}


def test_a_game_is_over_once_a_later_pitch_in_another_game_is_final():
    assert PitcherFeatures._over([_p(1, 0, True), _p(1, 10, True), _p(2, 20, True), _p(2, 25, False)]) == {1}


def test_a_game_stays_while_the_other_game_has_no_final_pitch_or_one_of_its_own_is_not_final():
    assert PitcherFeatures._over([_p(1, 0, True), _p(1, 10, True), _p(2, 20, False)]) == set()
    assert PitcherFeatures._over([_p(1, 0, True), _p(1, 10, False), _p(2, 20, True)]) == set()


def test_a_game_whose_last_pitch_is_later_than_the_other_games_final_pitch_stays():
    # game 2's final pitch came before game 1's last one: game 1 may not be over (the games' order in time
    # is what counts, not their game_pk)
    assert PitcherFeatures._over([_p(1, 0, True), _p(1, 30, True), _p(2, 20, True), _p(2, 40, False)]) == set()
    assert PitcherFeatures._over([_p(2, 0, True), _p(2, 10, True), _p(1, 20, True)]) == {2}


def test_one_game_alone_or_nothing_final_is_never_over():
    assert PitcherFeatures._over([_p(1, 0, True), _p(1, 10, True)]) == set()
    assert PitcherFeatures._over([_p(1, 0, False), _p(2, 10, False)]) == set()
    assert PitcherFeatures._over([]) == set()
