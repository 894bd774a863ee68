"""Pure domain: event records, feature maths, calibration decay, scores and alert rules.

Nothing here imports a framework (Spark, Dagster, Feast, FastAPI): every adapter calls into this package,
never the other way round, so the rules can be checked by hand-worked cases.
"""
