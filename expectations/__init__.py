"""Data quality gates of the lakehouse: Great Expectations 1.x suites, defined in code, for the Delta tables.

`validate(df, "pitches")` runs the bronze suite on a Spark DataFrame and returns a QualityReport: whether
it passed, the share of expectations met (feature QA, the input of the platform's critical alert below
0.7), and for each failed expectation the rows that broke it, named by their pitch key.
"""

from expectations.errors import MissingColumnsError, QualityInputError, UnknownSuiteError
from expectations.run import FEATURE_QA_CRITICAL, Failure, QualityReport, suite, validate
from expectations.suites import SUITES, pitch_features_suite, pitches_suite

__all__ = [
    "FEATURE_QA_CRITICAL",
    "SUITES",
    "Failure",
    "MissingColumnsError",
    "QualityInputError",
    "QualityReport",
    "UnknownSuiteError",
    "pitch_features_suite",
    "pitches_suite",
    "suite",
    "validate",
]
