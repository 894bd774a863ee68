"""The Dagster entry point loads, and shows the platform as the data engineer expects to find it."""

from __future__ import annotations

import dagster as dg

from readiness_platform.definitions import build_definitions, defs


def test_the_workspace_entry_point_loads(settings):
    dg.Definitions.validate_loadable(build_definitions(settings))
    loaded = defs()
    repo = loaded.get_repository_def()
    assets = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"pitches", "pitch_features", "pitcher_readiness", "quarantine", "stream_metrics",
            "seasonal_baselines"} <= assets
    assert {"recalibration", "nightly_baselines"} <= {j.name for j in repo.get_all_jobs()}
    assert {"calibration_sensor", "stream_tables_observer", "stream_freshness_sensor"} <= \
        {s.name for s in repo.sensor_defs}
    checks = {k.name for k in repo.asset_graph.asset_check_keys}
    assert {"pitches_suite", "pitch_features_suite"} <= checks
    # the stream's tables are observed, never materialized by Dagster
    assert not repo.asset_graph.get(dg.AssetKey("pitches")).is_materializable
    assert repo.asset_graph.get(dg.AssetKey("seasonal_baselines")).is_materializable
