"""stream_tables_observer: records an observation of each stream table whose Delta log moved."""

import dagster as dg

from readiness_platform.defs.stream.assets import STREAM_TABLES
from readiness_platform.observe import table_state
from readiness_platform.resources import PlatformResource


def observations(platform: PlatformResource) -> list[dg.AssetObservation]:
    """One observation per stream table that exists: its version, rows and last commit."""
    tables = platform.settings().tables
    out = []
    for name in STREAM_TABLES:
        state = table_state(name, tables.path(name))
        if not state.exists:
            continue
        out.append(dg.AssetObservation(asset_key=name, metadata={
            "dagster/row_count": state.rows,
            "dagster/last_updated_timestamp": dg.MetadataValue.timestamp(state.last_commit),
            "delta_version": state.version,
            "last_operation": state.last_operation or "",
            "path": dg.MetadataValue.path(state.path),
        }))
    return out


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def stream_tables_observer(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
    """Observe the stream's Delta tables: version, row count and last commit of each."""
    seen = observations(platform)
    if not seen:
        return dg.SensorResult(skip_reason="no stream table exists yet: start the stream (`readiness ingest`)")
    # only what changed since the last tick becomes an event (the cursor holds each table's version)
    cursor = dict(item.split("=") for item in context.cursor.split(",")) if context.cursor else {}
    changed = [o for o in seen if cursor.get(o.asset_key.path[-1]) != str(o.metadata["delta_version"].value)]
    cursor.update({o.asset_key.path[-1]: str(o.metadata["delta_version"].value) for o in seen})
    return dg.SensorResult(asset_events=changed, cursor=",".join(f"{k}={v}" for k, v in sorted(cursor.items())))
