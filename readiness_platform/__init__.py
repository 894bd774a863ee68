"""Pitcher readiness platform: pitch-by-pitch readiness, fatigue and risk from ball-tracking data."""
