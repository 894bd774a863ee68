"""The back-test's alert figures against a second count of the same rows (the scored corpus)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from readiness_platform.backtest import SALE, healthy_starts, pitcher_episodes, summarize


def recount(levels: list[str], readiness: list[float]) -> int:
    """Episodes of one pitcher-game, counted by hand: a new one when an alert follows 5 clear pitches (ok and
    readiness >= 83) or opens the game."""
    count, open_, clear = 0, False, 0
    for level, r in zip(levels, readiness):
        if not open_:
            if level != "ok":
                count, open_, clear = count + 1, True, 0
            continue
        clear = clear + 1 if level == "ok" and r >= 83.0 else 0
        if clear == 5:
            open_ = False
    return count


@pytest.fixture(scope="module")
def tables(scored: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return summarize(scored)


def test_pitcher_episodes_match_a_second_count(scored: pd.DataFrame) -> None:
    episodes = pitcher_episodes(scored)
    counted = episodes.groupby(["model_version", "pitcher_id", "game_pk"]).size()
    ordered = scored.sort_values(["at_bat_number", "pitch_number"])
    for (version, pid, game), g in ordered.groupby(["model_version", "pitcher_id", "game_pk"]):
        assert counted.get((version, pid, game), 0) == recount(list(g["alert_level"]), list(g["readiness"]))
    assert set(episodes["level"]) <= {"warning", "critical"} and len(episodes) > 0


def test_no_data_quality_reason_raises_a_pitcher_alert(scored: pd.DataFrame) -> None:
    reasons = {r.split(" ")[0] for rs in scored["alert_reasons"] for r in rs}
    assert reasons <= {"readiness", "velocity"}
    flagged = scored[scored["calibration_confidence"] < 0.8]
    assert len(flagged) and (flagged["data_quality"] != "ok").all()


def test_healthy_starts_leave_out_the_injured_and_the_relievers(scored: pd.DataFrame) -> None:
    starts = healthy_starts(scored)
    sale = scored[(scored["pitcher_id"] == SALE)][["game_pk", "game_date"]].drop_duplicates()
    late = set(sale[sale["game_date"] >= date(2019, 7, 18)]["game_pk"])
    kept = set(starts[starts["pitcher_id"] == SALE]["game_pk"])
    assert late and not late & kept and len(kept) == sale["game_pk"].nunique() - len(late)
    familia = 544727  # a closer: never a start
    assert familia not in set(starts["pitcher_id"])


def test_the_targets_table_reads_the_rows(scored: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    t = tables["targets"].set_index("measure")
    one = scored[scored["model_version"] == "v1"]
    assert t.loc["pitches thrown under a calibration warning", "v1"] == pytest.approx(
        (one["calibration_confidence"] < 0.8).sum() / len(one))
    assert t.loc["pitches with a pitcher alert", "v2"] == pytest.approx(
        (scored[scored["model_version"] == "v2"]["alert_level"] != "ok").mean())
    reasons = tables["reasons"].set_index(["model_version", "reason"])
    assert reasons.loc[("v1", "calibration < 0.8"), "pitcher_episodes"] == 0  # never a pitcher's alert


def test_walk_forward_baselines_come_from_earlier_games_only(scored: pd.DataFrame) -> None:
    from readiness_platform.replay.statcast import load_pitches, statcast_files
    from readiness_platform.settings import get_settings

    sale = scored[(scored["pitcher_id"] == SALE) & (scored["model_version"] == "v1")]
    pitches = [p for p in load_pitches(statcast_files(get_settings().statcast_dir)) if p.pitcher_id == SALE]
    speeds: list[float] = []  # his four-seamers after each game's first 10 pitches, games before the one judged
    for day in sorted(sale["game_date"].unique()):
        rows = sale[sale["game_date"] == day]
        if len(speeds) < 30:  # no baseline yet (30 pitches needed): no delta, whatever later games hold
            assert rows["velo_delta_mph"].isna().all(), day
        else:  # the baseline by hand: the mean of the earlier games' four-seamers
            judged = rows[rows["velo_delta_mph"].notna()]
            assert len(judged) and (judged["fb_velo_mean5"] - judged["velo_delta_mph"]).to_numpy() == pytest.approx(
                sum(speeds) / len(speeds)), day
            break
        game = sorted((p for p in pitches if p.game_date == day), key=lambda p: (p.at_bat_number, p.pitch_number))
        speeds += [p.release_speed for p in game[10:] if str(p.pitch_family) == "four_seam" and p.release_speed]
    else:
        raise AssertionError("no game of Sale's was judged against a baseline")
