"""Freshness of the stream's tables: a stalled stream shows red in the UI.

The checks read the observations stream_tables_observer records (their dagster/last_updated_timestamp is
the table's last Delta commit). Dagster 1.13 marks these checks superseded by FreshnessPolicy, which is
still in preview (off by default) and judges materializations; the stream's tables are only observed.
"""

from datetime import timedelta

import dagster as dg

STALE_AFTER = timedelta(minutes=10)  # a live game lands pitches every ~20 s; 10 quiet minutes is a stall

stream_freshness_checks = dg.build_last_update_freshness_checks(
    assets=[dg.AssetKey(n) for n in ("pitches", "pitch_features", "pitcher_readiness", "stream_metrics")],
    lower_bound_delta=STALE_AFTER,
    severity=dg.AssetCheckSeverity.ERROR,
)
# "a stalled stream shows red": the checks fail (ERROR) once the last commit is older than STALE_AFTER
stream_freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=stream_freshness_checks, minimum_interval_seconds=60, name="stream_freshness_sensor"
)
