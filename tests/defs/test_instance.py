"""Dagster's run storage on the project's real PostgreSQL (dagster-postgres)."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import psycopg
import pytest

from readiness_platform.defs.calibration.jobs import RecalibrationConfig, recalibration
from readiness_platform.instance import dagster_pg_url, write_dagster_home
from readiness_platform.resources import PlatformResource


@pytest.mark.services
def test_runs_are_stored_in_postgres(settings, monkeypatch):
    home = write_dagster_home(settings, postgres=True)
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url(settings))
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = recalibration.execute_in_process(
            instance=instance,
            run_config=dg.RunConfig(ops={"record_calibration": RecalibrationConfig(
                tracking_system_id="busch_iii", at=datetime(2020, 9, 3, 23, tzinfo=timezone.utc).isoformat())}),
            resources={"platform": PlatformResource(home=str(settings.home))},
            tags={"reason": "test of the run storage"},
        )
        assert result.success
    finally:
        instance.dispose()
    # read back with plain SQL, not through Dagster: the run is in the server's `dagster` database
    with psycopg.connect(dagster_pg_url(settings).replace("+psycopg2", "")) as conn:
        status, job = conn.execute("select status, pipeline_name from runs where run_id = %s",
                                   (result.run_id,)).fetchone()
    assert (status, job) == ("SUCCESS", "recalibration")
