"""Helpers of the orchestration tests."""

from __future__ import annotations

import pandas as pd

from readiness_platform.lakehouse import table_specs


def write_silver(spark, settings, scored: pd.DataFrame) -> None:  # noqa: ANN001
    """`scored` as silver pitch_features (what a stream over the corpus would have written)."""
    schema = table_specs()["pitch_features"].schema
    frame = scored.assign(registered_model=None, ingest_app_id="backtest", ingest_batch_id=None)[schema.fieldNames()]
    spark.createDataFrame(frame, schema=schema).write.format("delta").mode("overwrite").save(
        settings.tables.pitch_features)
