"""Seasonal baselines batch job: pitches -> Delta `seasonal_baselines`, one season partition at a time."""
