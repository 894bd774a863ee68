from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, timezone

import pytest

from readiness_platform.domain.pitch_types import PitchFamily
from readiness_platform.replay.statcast import GapModel, load_pitches, read_rows, statcast_files
from tests.conftest import GAME_DAY, STATCAST_DIR

# Row counts and untracked pitches as the data README states them.
README_ROWS = {
    "statcast_2020-09-03_all_games__pybaseball.csv": 2507,
    "sale_2019__rshea33.csv": 2466,
    "degrom_2019__jamescastro98.csv": 3297,
    "skubal_2024__eme-eleuce.csv": 2866,
    "familia_2016__jamescastro98.csv": 1262,
    "duffey_2022__knisslo4.csv": 741,
    "darvish_2019-07__pybaseball.csv": 438,
    "cease_2024-07-25_nohitter__chriscoop05.csv": 114,
}


@pytest.fixture(scope="module")
def corpus():
    return load_pitches(statcast_files(STATCAST_DIR))


def test_every_row_of_every_file_is_read(corpus):
    for path in statcast_files(STATCAST_DIR):
        assert len(read_rows(path)) == README_ROWS[path.name], path.name
    assert len(corpus) == 13_691
    assert len({p.key for p in corpus}) == 13_691


def test_rows_come_out_in_pitch_order_though_files_are_newest_first():
    rows = read_rows(STATCAST_DIR / "degrom_2019__jamescastro98.csv")
    order = [(r.values["game_date"], r.key) for r in rows]
    assert order == sorted(order)
    with (STATCAST_DIR / "degrom_2019__jamescastro98.csv").open(newline="") as fh:
        first_line = next(csv.DictReader(fh))
    assert first_line["game_date"] == "2019-09-25"  # the file starts with its last game
    assert rows[0].values["game_date"].isoformat() == "2019-03-28"


def test_the_repeated_pitcher_header_is_not_the_fielder():
    # Sale's export has two `pitcher` columns; every row is Chris Sale's.
    ids = {r.values["pitcher_id"] for r in read_rows(STATCAST_DIR / "sale_2019__rshea33.csv")}
    assert ids == {519242}


def test_bom_and_quoted_headers_are_handled():
    rows = read_rows(STATCAST_DIR / "cease_2024-07-25_nohitter__chriscoop05.csv")  # starts with a BOM
    assert rows[0].values["pitcher_id"] == 656302
    assert rows[0].values["game_pk"] is not None


def test_nulls_are_none_never_zero():
    rows = read_rows(STATCAST_DIR / "degrom_2019__jamescastro98.csv")
    untracked = [r for r in rows if r.values["release_speed"] is None]
    assert len(untracked) == 106  # the README's count
    assert all(r.values["pitch_family"] is PitchFamily.UNKNOWN for r in untracked)  # label 'null'
    assert not any(r.values["release_speed"] == 0 for r in rows)
    assert all(r.sv_time is None for r in read_rows(GAME_DAY))  # sv_id is the string "null" there


def test_pfx_feet_become_inches():
    # First pitch of 2020-09-03 game 631234, hand-checked in the CSV: pfx_x -1.2 ft, pfx_z 1.1 ft.
    row = next(r for r in read_rows(GAME_DAY) if r.key == (631234, 1, 1))
    raw = next(line for line in csv.DictReader(GAME_DAY.open(newline=""))
               if (line["game_pk"], line["at_bat_number"], line["pitch_number"]) == ("631234", "1", "1"))
    assert row.values["pfx_x"] == pytest.approx(float(raw["pfx_x"]) * 12)
    assert row.values["pfx_z"] == pytest.approx(float(raw["pfx_z"]) * 12)


def test_sv_id_is_the_utc_pitch_time():
    rows = read_rows(STATCAST_DIR / "degrom_2019__jamescastro98.csv")
    assert rows[0].sv_time == datetime(2019, 3, 28, 17, 16, 3, tzinfo=timezone.utc)  # sv_id 190328_171603


def test_synthesized_gaps_follow_the_measured_ones(corpus):
    measured = GapModel.measure([read_rows(STATCAST_DIR / f) for f in (
        "degrom_2019__jamescastro98.csv", "familia_2016__jamescastro98.csv", "darvish_2019-07__pybaseball.csv")])
    # README: median 22-29 s within an at-bat, p90 35-43 s
    assert 22 <= measured.quantile("pitch", 0.5) <= 29
    assert 35 <= measured.quantile("pitch", 0.9) <= 43
    sale = [p for p in corpus if p.pitcher_id == 519242]
    gaps = [
        (b.event_time - a.event_time).total_seconds()
        for a, b in zip(sale, sale[1:])
        if a.game_pk == b.game_pk and a.at_bat_number == b.at_bat_number
    ]
    gaps.sort()
    assert 22 <= gaps[len(gaps) // 2] <= 29
    assert set(gaps) <= set(measured.samples["pitch"])


def test_event_times_run_forward_within_each_game(corpus):
    by_game = {}
    for p in sorted(corpus, key=lambda p: p.key):
        prev = by_game.get(p.game_pk)
        if prev is not None:
            assert p.event_time >= prev.event_time, (prev.key, p.key)
        by_game[p.game_pk] = p


def test_multi_game_day_has_concurrent_games():
    day = load_pitches([GAME_DAY])
    spans = {}
    for p in day:
        lo, hi = spans.get(p.game_pk, (p.event_time, p.event_time))
        spans[p.game_pk] = (min(lo, p.event_time), max(hi, p.event_time))
    assert len(spans) == 8
    overlapping = sum(1 for a in spans.values() for b in spans.values() if a < b and a[1] > b[0])
    assert overlapping > 0
    assert Counter(p.tracking_system_id for p in day)["citi_field"] == 359  # NYM home game
