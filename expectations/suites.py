"""The quality suites of the lakehouse, in code: one Great Expectations 1.x suite per Delta table.

`pitches` guards bronze (what the tracking feed delivered), `pitch_features` guards silver (what the
scoring made of it). The bounds are module constants so the stream, the tests and the docs quote one
number; where the domain already owns a bound (calibration confidence, model versions) it is imported,
not copied. Every expectation carries `notes` saying why it exists, with units, and `meta["check"]`, a
stable name for logs and dashboards.

The range checks let nulls through on purpose: GX skips nulls in `*_to_be_between`, and an untracked
pitch (no speed, no spin) is legal. Nulls are bounded separately, with `mostly`.
"""

from __future__ import annotations

from collections.abc import Callable

import great_expectations as gx
from great_expectations import expectations as gxe
from great_expectations.expectations.expectation import Expectation

from readiness_platform.domain.alerts import LEVELS
from readiness_platform.domain.calibration import CONFIDENCE_FLOOR, CONFIDENCE_MAX
from readiness_platform.domain.events import PITCH_KEY
from readiness_platform.domain.scores import MODEL_VERSIONS

# --- bronze: pitches ---------------------------------------------------------------------------------
RELEASE_SPEED_MPH = (40.0, 110.0)  # the feed contract's bounds (domain.events.TrackedPitch)
RELEASE_SPIN_RPM = (0.0, 4000.0)  # no MLB pitch has been tracked above ~3,800 rpm
RELEASE_HEIGHT_FT = (0.0, 10.0)  # release_pos_z: ground to well above any pitcher's reach
RELEASE_SPEED_TRACKED_MIN = 0.90  # at most 10 % of pitches may lack a speed (untracked)

# --- silver: pitch_features --------------------------------------------------------------------------
FEATURE_KEY: tuple[str, ...] = (*PITCH_KEY, "model_version")  # one row per pitch per model version
INDEX_RANGE = (0.0, 100.0)  # readiness, fatigue and risk are 0-100 indices
CALIBRATION_CONFIDENCE = (CONFIDENCE_FLOOR, CONFIDENCE_MAX)  # 0.50-0.95, domain.calibration
AIR_DENSITY_KG_M3 = (0.9, 1.4)  # hot day at Coors Field ~0.95 .. freezing sea-level night ~1.32
DATA_CONFIDENCE = (0.0, 1.0)  # a share
ALERT_LEVELS: tuple[str, ...] = LEVELS  # what domain.alerts returns (Alert.level)

# Columns a failure's sample names its rows by, per suite: the table's key.
SUITE_KEYS: dict[str, tuple[str, ...]] = {"pitches": PITCH_KEY, "pitch_features": FEATURE_KEY}


def _check(name: str, why: str) -> dict:
    return {"notes": why, "meta": {"check": name}}


def pitches_suite() -> gx.ExpectationSuite:
    """Bronze `pitches`: the pitch key is a key, every pitch is attributable, and what was measured is
    physically possible."""
    lo_speed, hi_speed = RELEASE_SPEED_MPH
    lo_spin, hi_spin = RELEASE_SPIN_RPM
    lo_z, hi_z = RELEASE_HEIGHT_FT
    expectations: list[Expectation] = [
        *[
            gxe.ExpectColumnValuesToNotBeNull(
                column=c, **_check(f"{c}_present", f"{c} is part of the pitch key; a pitch without it "
                                                   "cannot be deduplicated or joined."))
            for c in PITCH_KEY
        ],
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(PITCH_KEY),
            **_check("pitch_key_unique", "Bronze holds every pitch exactly once; a repeated (game_pk, "
                                         "at_bat_number, pitch_number) means the exactly-once append broke.")),
        gxe.ExpectColumnValuesToNotBeNull(
            column="pitcher_id",
            **_check("pitcher_id_present", "Features and readiness are per pitcher: an unattributed pitch "
                                           "is lost to every index.")),
        gxe.ExpectColumnValuesToNotBeNull(
            column="event_time",
            **_check("event_time_present", "Windows, watermark and lateness run on event time (UTC).")),
        gxe.ExpectColumnValuesToBeBetween(
            column="release_speed", min_value=lo_speed, max_value=hi_speed,
            **_check("release_speed_range", f"Release speed, mph, must be {lo_speed:g}-{hi_speed:g}: outside "
                                            "is a tracking or unit error, and it would swing velo_z. "
                                            "Null (untracked) is allowed.")),
        gxe.ExpectColumnValuesToNotBeNull(
            column="release_speed", mostly=RELEASE_SPEED_TRACKED_MIN,
            **_check("release_speed_tracked", f"At most {1 - RELEASE_SPEED_TRACKED_MIN:.0%} of pitches may "
                                              "lack a release speed (mph); more means the tracking system is "
                                              "dropping pitches and velocity windows run short.")),
        gxe.ExpectColumnValuesToBeBetween(
            column="release_spin_rate", min_value=lo_spin, max_value=hi_spin,
            **_check("release_spin_rate_range", f"Spin rate, rpm, must be {lo_spin:g}-{hi_spin:g}: beyond is "
                                                "a tracking error that would inflate spin CV. Null allowed.")),
        gxe.ExpectColumnValuesToBeBetween(
            column="release_pos_z", min_value=lo_z, max_value=hi_z,
            **_check("release_pos_z_range", f"Release height, ft, must be {lo_z:g}-{hi_z:g}: beyond is a "
                                            "coordinate or unit error (metres, inches) that would fake a "
                                            "release-point drift. Null allowed.")),
        gxe.ExpectColumnValuesToNotBeNull(
            column="tracking_system_id",
            **_check("tracking_system_present", "Calibration confidence and air density are looked up per "
                                                "tracking system; without it the pitch has no context.")),
    ]
    return gx.ExpectationSuite(name="pitches", expectations=expectations)


def pitch_features_suite() -> gx.ExpectationSuite:
    """Silver `pitch_features`: one row per pitch and model version, indices on their scales, context
    (calibration, air) within what the domain can produce, and alert levels the UI knows."""
    lo_i, hi_i = INDEX_RANGE
    lo_c, hi_c = CALIBRATION_CONFIDENCE
    lo_rho, hi_rho = AIR_DENSITY_KG_M3
    lo_d, hi_d = DATA_CONFIDENCE
    indices = {
        "readiness": "Readiness, 0-100 index (100 - 0.65 fatigue - 0.35 risk)",
        "fatigue": "Fatigue, 0-100 index (weighted sum of 0-1 components)",
        "risk": "Risk, 0-100 index (weighted sum of 0-1 components)",
    }
    expectations: list[Expectation] = [
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(FEATURE_KEY),
            **_check("feature_key_unique", "One row per pitch per model version: a repeat double-counts the "
                                           "pitch in every aggregate and the readiness table.")),
        gxe.ExpectColumnValuesToNotBeNull(
            column="model_version",
            **_check("model_version_present", "Part of the key: rows of different models must never mix.")),
        gxe.ExpectColumnValuesToBeInSet(
            column="model_version", value_set=list(MODEL_VERSIONS),
            **_check("model_version_known", f"Only the scoring models that exist ({', '.join(MODEL_VERSIONS)}); "
                                            "another value is a writer out of step with domain.scores.")),
    ]
    for name, what in indices.items():
        expectations += [
            gxe.ExpectColumnValuesToNotBeNull(
                column=name, **_check(f"{name}_present", f"{what}: every scored row has one; a null hides the "
                                                         "pitcher from the staff.")),
            gxe.ExpectColumnValuesToBeBetween(
                column=name, min_value=lo_i, max_value=hi_i,
                **_check(f"{name}_range", f"{what}: outside {lo_i:g}-{hi_i:g} the score is broken, and the "
                                          "alert thresholds (60/80) lose their meaning.")),
        ]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(
            column="calibration_confidence", min_value=lo_c, max_value=hi_c,
            **_check("calibration_confidence_range", f"Calibration confidence, unitless, decays from {hi_c:g} to a "
                                                     f"floor of {lo_c:g} (domain.calibration); outside it the "
                                                     "timeline is wrong.")),
        gxe.ExpectColumnValuesToBeBetween(
            column="air_density_kg_m3", min_value=lo_rho, max_value=hi_rho,
            **_check("air_density_range", f"Air density, kg/m^3, must be {lo_rho:g}-{hi_rho:g} for any MLB park "
                                          "and weather; outside it the break adjustment is a units error.")),
        gxe.ExpectColumnValuesToBeInSet(
            column="alert_level", value_set=list(ALERT_LEVELS),
            **_check("alert_level_known", f"Alert level must be one of {', '.join(ALERT_LEVELS)} "
                                          "(domain.alerts); the UI and pager route on it.")),
        gxe.ExpectColumnValuesToBeBetween(
            column="data_confidence", min_value=lo_d, max_value=hi_d,
            **_check("data_confidence_range", f"Data confidence, unitless {lo_d:g}-{hi_d:g}: calibration weight "
                                              "x on-time share (domain.scores); v2 scales tracking inputs by it.")),
    ]
    return gx.ExpectationSuite(name="pitch_features", expectations=expectations)


SUITES: dict[str, Callable[[], gx.ExpectationSuite]] = {
    "pitches": pitches_suite,
    "pitch_features": pitch_features_suite,
}


def expectation_columns(expectation: Expectation) -> tuple[str, ...]:
    """The columns one expectation reads: its `column`, or its `column_list`."""
    column = getattr(expectation, "column", None)
    if column is not None:
        return (column,)
    return tuple(getattr(expectation, "column_list", None) or ())


def suite_columns(suite: gx.ExpectationSuite) -> tuple[str, ...]:
    """Every column the suite reads plus the key its samples are named by, in first-use order."""
    names = list(SUITE_KEYS.get(suite.name, ()))
    for expectation in suite.expectations:
        names += expectation_columns(expectation)
    return tuple(dict.fromkeys(names))
