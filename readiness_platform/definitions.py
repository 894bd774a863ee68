"""The single Dagster entry point (workspace.yaml loads it): the platform as assets, checks, jobs,
schedules and sensors. Resources are chosen once here, from the environment (settings)."""

from __future__ import annotations

import dagster as dg

from readiness_platform.defs.baselines.assets import nightly_baselines, nightly_baselines_schedule, seasonal_baselines
from readiness_platform.defs.calibration.jobs import recalibration
from readiness_platform.defs.calibration.sensors import calibration_sensor
from readiness_platform.defs.late_data.jobs import late_reprocessing
from readiness_platform.defs.late_data.sensors import late_data_sensor
from readiness_platform.defs.models.assets import active_model_version, cutover_evidence, rollback_to_v1, v2_cutover
from readiness_platform.defs.quality.checks import quality_checks, quality_gates, quality_gates_schedule
from readiness_platform.defs.retention.jobs import player_erasure, retention
from readiness_platform.defs.retention.schedules import retention_schedule
from readiness_platform.defs.serving.assets import online_features, online_publication, online_publication_schedule
from readiness_platform.defs.stream.assets import stream_tables
from readiness_platform.defs.stream.checks import stream_freshness_checks, stream_freshness_sensor
from readiness_platform.defs.stream.sensors import stream_tables_observer
from readiness_platform.resources import local_resources
from readiness_platform.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Everything Dagster shows, bound to the resources of `settings` (default: the environment's)."""
    return dg.Definitions(
        assets=[*stream_tables, seasonal_baselines, cutover_evidence, active_model_version,
                online_features],
        asset_checks=[*stream_freshness_checks, *quality_checks],
        jobs=[nightly_baselines, recalibration, late_reprocessing, v2_cutover, rollback_to_v1, quality_gates,
              online_publication, retention, player_erasure],
        schedules=[nightly_baselines_schedule, quality_gates_schedule, online_publication_schedule,
                   retention_schedule],
        sensors=[stream_tables_observer, stream_freshness_sensor, calibration_sensor, late_data_sensor],
        resources=local_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
