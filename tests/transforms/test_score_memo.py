"""The stream's scoring memo: a final row reuses its provisional scores only when every input is equal."""

from __future__ import annotations

from collections import defaultdict

import pytest

from readiness_platform.domain.features import PitchObs, pitcher_history
from readiness_platform.domain.scores import MODEL_VERSIONS
from readiness_platform.replay.statcast import load_pitches, statcast_files
from readiness_platform.settings import get_settings
from readiness_platform.transforms.features import PITCH_NAMES, _row, build_timelines, score_rows


@pytest.fixture(scope="module")
def feature_rows() -> list[dict]:
    """Final feature rows of every pitch of Sale's 2019 file, as the batch recompute computes them."""
    files = [f for f in statcast_files(get_settings().statcast_dir) if f.name.startswith("sale_2019")]
    pitches = list(load_pitches(files))
    by_key = {p.key: p for p in pitches}
    by_pitcher: dict[int, list[PitchObs]] = defaultdict(list)
    for p in pitches:
        by_pitcher[p.pitcher_id].append(PitchObs(p.game_pk, p.at_bat_number, p.pitch_number, p.game_date,
                                                 p.event_time.replace(tzinfo=None), str(p.pitch_family),
                                                 p.release_speed, p.release_spin_rate, p.release_pos_z))
    rows = []
    for pitcher_id, obs in by_pitcher.items():
        for o, wf in pitcher_history(obs, {}):
            p = by_key[(o.game_pk, o.at_bat_number, o.pitch_number)].model_dump()
            p.update(event_time=o.event_time, ingest_time=None, pitch_family=o.pitch_family)
            rows.append(_row(pitcher_id, {n: p[n] for n in PITCH_NAMES}, wf, True))
    assert len(rows) > 1000
    return rows


def test_final_rows_reuse_equal_inputs_and_rescore_changed_ones(feature_rows: list[dict]) -> None:
    timelines = build_timelines([], [])
    memo: dict = {}
    provisional = [{**r, "is_final": False} for r in feature_rows]
    first = score_rows(provisional, timelines, {}, memo)
    assert len(memo) == len(feature_rows)  # one entry per pitch awaiting its final row

    i = next(i for i, r in enumerate(feature_rows) if r["pitch_count_game"] > 60)  # count moves fatigue here
    changed = dict(feature_rows[i], pitch_count_game=feature_rows[i]["pitch_count_game"] + 1)
    finals = [changed if j == i else r for j, r in enumerate(feature_rows)]
    memoized = score_rows(finals, timelines, {}, memo)
    fresh = score_rows(finals, timelines, {})
    assert memoized == fresh  # reused or not, the same rows as scoring afresh
    assert not memo  # every final row took its pitch's entry out
    # a row per pitch and version (v1 first): the changed pitch was scored again, the others reused their scores
    n = len(MODEL_VERSIONS)
    assert memoized[n * i]["fatigue"] > first[n * i]["fatigue"]
    assert memoized[n * i]["drivers"] is not first[n * i]["drivers"]
    assert all(memoized[k]["drivers"] is first[k]["drivers"] for k in range(len(first)) if k // n != i)
