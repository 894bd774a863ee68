"""The stream's Delta tables as external assets: the stream writes them, Dagster observes them.

The stream (spark_jobs/stream) is a long-running Spark job, not a Dagster run. A sensor reads each
table's Delta log every 30 s (no Spark) and records an observation: version, rows, last commit. The
freshness checks turn a stalled stream red in the UI.
"""

import dagster as dg

STREAM_TABLES = {
    "pitches": "Bronze: every valid tracked pitch, exactly once, late ones flagged (partitioned by game date).",
    "environment_readings": "Bronze: weather and vibration readings per tracking system.",
    "calibration_events": "Bronze: calibrations of the tracking systems (pregame, scheduled, requested).",
    "quarantine": "Every malformed or invalid feed message, with its raw payload and the reason.",
    "stream_metrics": "One row per micro-batch: rows in, duplicates, quarantined, late fraction, latency.",
    "pitch_features": "Silver: one row per pitch per model version - window features, context, scores.",
    "pitcher_readiness": "Gold: each pitcher's latest readiness, fatigue and risk per model version.",
}

stream_tables = [
    dg.AssetSpec(name, description=text, group_name="stream", kinds={"spark", "delta"},
                 owners=["team:data-platform"], metadata={"written_by": "spark_jobs.stream.main"})
    for name, text in STREAM_TABLES.items()
]
