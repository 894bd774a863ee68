"""Recognizing one player's data in raw text: feed lines (clean and damaged), batter ids, failure samples."""

from __future__ import annotations

import json
import random

import pytest

from readiness_platform.domain.erasure import ERASED, PlayerIdentity
from readiness_platform.replay.lag import corrupt

PID, OTHER = 621219, 543867
KEY = (631112, 42, 2)
RECORD = {"schema_version": 1, "event_time": "2020-09-04T00:38:36Z", "kind": "pitch", "game_pk": KEY[0],
          "at_bat_number": KEY[1], "pitch_number": KEY[2], "game_date": "2020-09-03", "pitcher_id": PID,
          "pitcher_name": "Mitch Keller", "batter_id": 592450, "release_speed": 94.1, "tracking_system_id": "pnc_park"}
ME = PlayerIdentity(PID).with_evidence(names=["Mitch Keller", None], pitch_keys=[KEY, ("x", 1, 2)])


def test_clean_lines_of_the_player_are_dropped_and_others_kept_as_they_are():
    mine = json.dumps(RECORD, separators=(",", ":"))
    theirs = json.dumps({**RECORD, "pitcher_id": OTHER, "pitcher_name": "Someone Else", "pitch_number": 3})
    assert ME.judge_line(mine).dropped
    assert ME.judge_line(theirs).line == theirs
    assert ME.judge_line('{"kind":"environment","tracking_system_id":"pnc_park","temperature_c":21.0}').line


@pytest.mark.parametrize("how", ["missing_key", "out_of_range", "wrong_type", "unknown_schema_version",
                                 "unknown_kind"])
def test_damaged_lines_of_the_player_are_dropped(how):
    assert ME.judge_line(corrupt(RECORD, how, random.Random(1))).dropped


def test_a_truncated_line_is_matched_by_its_id_or_by_the_pitch_key_it_kept():
    text = json.dumps(RECORD, separators=(",", ":"))
    assert ME.judge_line(text[: text.index('"pitcher_name"') - 1]).dropped  # the id survived the cut
    assert ME.judge_line(text[: text.index('"pitcher_id"') - 1]).dropped  # only the key survived
    assert not ME.judge_line(text[: text.index('"pitch_number"') - 1]).dropped  # nothing that is theirs
    assert not ME.judge_line("\x00\x17GARBLED 0af3").dropped


def test_a_line_without_the_id_but_with_the_name_is_theirs():
    line = json.dumps({k: v for k, v in RECORD.items() if k not in ("pitcher_id", "game_pk")})
    assert ME.judge_line(line).dropped


def test_the_player_as_batter_loses_the_id_and_the_pitch_stays():
    theirs = json.dumps({**RECORD, "pitcher_id": OTHER, "pitcher_name": "Someone Else", "pitch_number": 3,
                         "batter_id": PID}, separators=(",", ":"))
    verdict = ME.judge_line(theirs)
    assert not verdict.dropped and verdict.batter_refs == 1
    assert json.loads(verdict.line)["batter_id"] is None
    assert json.loads(verdict.line)["pitcher_id"] == OTHER


def test_ids_inside_longer_numbers_are_not_the_player():
    assert not ME.mentioned_in("took 1621219.5 ms; game 16212190")
    assert ME.mentioned_in("| 621219 | 631112 | 42-2 |")
    assert ME.mentioned_in("late pitch at critical: pitcher 621219 game 631112")
    assert ME.mentioned_in("sample {'game_pk': 631112, 'at_bat_number': 42, 'pitch_number': 2, 'x': 250}")
    assert not ME.mentioned_in("game_pk=631112 at_bat_number=42 pitch_number=3 release_speed=250.0")


def test_failure_samples_of_the_player_are_redacted_and_the_rest_kept():
    line = ("expect_column_values_to_be_between(release_speed): 3 row(s) (1.00%) [game_pk=631112 at_bat_number=42 "
            "pitch_number=2 release_speed=250.0; game_pk=631112 at_bat_number=42 pitch_number=3 release_speed=12.0; "
            "game_pk=631112 at_bat_number=42 pitch_number=2 event_time=2020-09-04 00:38:36 ...] -- physical range")
    redacted, n = ME.redact_samples(line)
    assert n == 2
    assert redacted == ("expect_column_values_to_be_between(release_speed): 3 row(s) (1.00%) [" + ERASED + "; "
                        "game_pk=631112 at_bat_number=42 pitch_number=3 release_speed=12.0; " + ERASED
                        + " ...] -- physical range")
    assert ME.redact_samples(redacted) == (redacted, 0)


def test_an_identity_needs_a_real_id():
    with pytest.raises(ValueError, match="positive integer"):
        PlayerIdentity(0)
