"""seasonal_baselines: a season materialized from the real corpus, in Delta and PostgreSQL alike, equal
to the domain functions run by hand on the same pitches."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import psycopg
import pytest

from readiness_platform.baselines_store import read_baselines
from readiness_platform.defs.baselines.assets import nightly_baselines_schedule, seasonal_baselines
from readiness_platform.domain.air import adjusted_break, climatological_density
from readiness_platform.domain.baselines import BaselinePitch, pitcher_season_baselines
from readiness_platform.domain.venues import VENUES
from readiness_platform.replay.statcast import load_pitches, statcast_files
from readiness_platform.resources import local_resources

SALE = 519242


def _by_hand(settings, pitcher_id: int, season: int):  # noqa: ANN001, ANN202
    pitches = [p for p in load_pitches(statcast_files(settings.statcast_dir))
               if p.pitcher_id == pitcher_id and p.game_date.year == season]
    rows = []
    for p in pitches:
        venue = VENUES.get(p.home_team)
        rho = climatological_density(venue.elevation_m if venue else 0.0)
        rows.append(BaselinePitch(p.pitcher_id, p.game_pk, p.game_date, p.at_bat_number, p.pitch_number,
                                  str(p.pitch_family), p.release_speed, p.release_spin_rate, p.release_pos_z,
                                  adjusted_break(p.pfx_z, rho)))
    return pitcher_season_baselines(rows)


@pytest.mark.spark
@pytest.mark.services
def test_a_season_backfilled_from_the_corpus_lands_in_delta_and_postgres(spark, settings):
    result = dg.materialize([seasonal_baselines], partition_key="2019", resources=local_resources(settings))
    assert result.success
    meta = result.asset_materializations_for_node("seasonal_baselines")[0].metadata
    delta = spark.read.format("delta").load(settings.tables.seasonal_baselines).toPandas()
    assert set(delta["season"]) == {2019}
    assert meta["dagster/row_count"].value == len(delta) > 0
    expected = _by_hand(settings, SALE, 2019)
    with psycopg.connect(settings.database_url) as conn:
        served = read_baselines(conn, SALE, 2019)
        in_pg = conn.execute("select count(*) from baselines where season = 2019").fetchone()[0]
    assert in_pg == len(delta)
    assert served.keys() == expected.keys() and expected
    for family, b in expected.items():
        assert served[family].n == b.n
        for name in ("velo_mean", "velo_sd5", "spin_cv", "release_z_sd", "pfx_z_adj_mean", "spin_cv_p90",
                     "release_z_sd_p90", "outing_pitches_p50"):
            assert getattr(served[family], name) == pytest.approx(getattr(b, name), abs=1e-9), (family, name)
    # materializing again replaces the season: the same rows, not twice as many
    assert dg.materialize([seasonal_baselines], partition_key="2019", resources=local_resources(settings)).success
    again = spark.read.format("delta").load(settings.tables.seasonal_baselines).toPandas()
    pd.testing.assert_frame_equal(again.sort_values(["pitcher_id", "pitch_family"]).reset_index(drop=True),
                                  delta.sort_values(["pitcher_id", "pitch_family"]).reset_index(drop=True))


def test_the_nightly_schedule_refreshes_the_current_season():
    context = dg.build_schedule_context(scheduled_execution_time=pd.Timestamp("2026-07-04 04:00", tz="UTC"))
    request = nightly_baselines_schedule(context)
    assert request.partition_key == "2026"
    assert request.run_key == "baselines-2026-20260704"
