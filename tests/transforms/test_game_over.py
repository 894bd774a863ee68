"""When the pitchers' state folds a game into an outing summary before GAME_STATE_HOURS: hand-worked cases.

A held pitch's finality follows from its time: final when it is below `final_before` (PitcherState)."""

from __future__ import annotations

from readiness_platform.transforms.features import PitcherFeatures

MINUTE = 60_000_000  # us


def _p(game: int, minute: int) -> list:
    """A held pitch (PitcherState's form) of `game` at `minute` - only its game and time matter here."""
    return [game, 1, minute + 1, 739_000, minute * MINUTE, None, "four_seam", 95.0, 2300.0, 6.0, 0.0, 0.0, "s", "NYM"]


def _final_until(minute: float) -> int:
    return int(minute * MINUTE)


def test_a_game_is_over_once_a_later_pitch_in_another_game_is_final():
    assert PitcherFeatures._over([_p(1, 0), _p(1, 10), _p(2, 20), _p(2, 25)], _final_until(22)) == {1}


def test_a_game_stays_while_the_other_game_has_no_final_pitch_or_one_of_its_own_is_not_final():
    assert PitcherFeatures._over([_p(1, 0), _p(1, 10), _p(2, 20)], _final_until(15)) == set()
    assert PitcherFeatures._over([_p(1, 0), _p(1, 30), _p(2, 20)], _final_until(25)) == set()


def test_a_game_whose_last_pitch_is_later_than_the_other_games_final_pitch_stays():
    # game 2's final pitch came before game 1's last one: game 1 may not be over (the games' order in time
    # is what counts, not their game_pk)
    assert PitcherFeatures._over([_p(1, 0), _p(1, 30), _p(2, 20), _p(2, 40)], _final_until(35)) == set()
    assert PitcherFeatures._over([_p(2, 0), _p(2, 10), _p(1, 20)], _final_until(21)) == {2}


def test_one_game_alone_or_nothing_final_is_never_over():
    assert PitcherFeatures._over([_p(1, 0), _p(1, 10)], _final_until(11)) == set()
    assert PitcherFeatures._over([_p(1, 0), _p(2, 10)], _final_until(0)) == set()
    assert PitcherFeatures._over([], _final_until(100)) == set()
