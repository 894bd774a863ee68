"""Dagster definitions by concept: stream (observed tables), baselines, calibration, quality."""
