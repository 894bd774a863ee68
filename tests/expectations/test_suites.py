"""The quality suites on real data: a clean Statcast game day passes, and every gate fails on its own.

Bronze rows are the first pitches of the 2020-09-03 game day as the replay reads them; silver rows are
those pitches run through the platform's own feature and scoring functions. Each defect is injected
into one named row, so the report must name exactly that expectation, that column and that row's key.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import timedelta

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from expectations import (
    FEATURE_QA_CRITICAL,
    SUITES,
    Failure,
    MissingColumnsError,
    QualityReport,
    UnknownSuiteError,
    validate,
)
from expectations.suites import ALERT_LEVELS, FEATURE_KEY, expectation_columns, suite_columns
from readiness_platform.domain.alerts import data_quality, pitcher_alert
from readiness_platform.domain.errors import ReadinessError
from readiness_platform.domain.events import PITCH_KEY, TrackedPitch
from readiness_platform.domain.features import PitchObs, pitcher_history
from readiness_platform.domain.scores import MODEL_VERSIONS
from readiness_platform.lakehouse import table_specs
from readiness_platform.replay.statcast import load_pitches, statcast_files
from readiness_platform.transforms.features import FEATURES_SCHEMA, build_timelines, score_rows
from tests.conftest import GAME_DAY, STATCAST_DIR

PITCHES = table_specs()["pitches"].schema
FEATURES = table_specs()["pitch_features"].schema
BRONZE_ROWS = 300  # first pitches of the game day, in event-time order
SILVER_PITCHES = 150  # x 2 model versions = 300 silver rows
N_PITCHES = 11  # expectations in the `pitches` suite
N_FEATURES = 13  # expectations in the `pitch_features` suite
BETWEEN = "expect_column_values_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
UNIQUE = "expect_compound_columns_to_be_unique"


# --- real rows -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def game_day() -> list[TrackedPitch]:
    return load_pitches(statcast_files(STATCAST_DIR, GAME_DAY.name))


def bronze_row(p: TrackedPitch) -> dict:
    """A pitch as the ingest stream lands it in bronze (on time, with lineage)."""
    return {**p.model_dump(), "pitch_family": str(p.pitch_family), "is_late": False,
            "source": GAME_DAY.name, "ingest_app_id": "tests", "ingest_batch_id": 0}


def silver_rows(pitches: list[TrackedPitch]) -> list[dict]:
    """The pitches through the platform's feature and scoring functions: a pre-game calibration 30 min
    before each tracking system's first pitch, no weather readings (standard air at the park)."""
    names = FEATURES_SCHEMA.fieldNames()
    by_pitcher: dict[int, list[TrackedPitch]] = defaultdict(list)
    for p in pitches:
        by_pitcher[p.pitcher_id].append(p)
    features = []
    for ps in by_pitcher.values():
        index = {p.key: p for p in ps}
        obs = [PitchObs(p.game_pk, p.at_bat_number, p.pitch_number, p.game_date, p.event_time.replace(tzinfo=None),
                        str(p.pitch_family), p.release_speed, p.release_spin_rate, p.release_pos_z) for p in ps]
        for o, wf in pitcher_history(obs, {}):
            row = {**index[(o.game_pk, o.at_bat_number, o.pitch_number)].model_dump(),
                   "pitch_family": str(o.pitch_family), "event_time": o.event_time, **asdict(wf), "is_final": True}
            features.append({n: row.get(n) for n in names})
    first: dict[str, object] = {}
    for p in pitches:
        first.setdefault(p.tracking_system_id, p.event_time.replace(tzinfo=None))
    calibrations = [{"tracking_system_id": s, "event_time": t - timedelta(minutes=30)} for s, t in first.items()]
    return score_rows(features, build_timelines(calibrations, []), {})


@pytest.fixture(scope="module")
def bronze(game_day: list[TrackedPitch]) -> list[dict]:
    return [bronze_row(p) for p in game_day[:BRONZE_ROWS]]


@pytest.fixture(scope="module")
def silver(game_day: list[TrackedPitch]) -> list[dict]:
    rows = silver_rows(game_day[:SILVER_PITCHES])
    assert len(rows) == len(MODEL_VERSIONS) * SILVER_PITCHES
    return rows


def frame(spark: SparkSession, rows: list[dict], schema: StructType) -> DataFrame:
    names = schema.fieldNames()
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schema)


def changed(rows: list[dict], at: int, **values: object) -> list[dict]:
    """A copy of `rows` with row `at` changed."""
    out = list(rows)
    out[at] = {**rows[at], **values}
    return out


def key_of(row: dict, key: tuple[str, ...] = PITCH_KEY) -> dict:
    return {k: row[k] for k in key}


def failed(report: QualityReport) -> list[tuple[str, str]]:
    return [(f.expectation, f.column) for f in report.failures]


# --- the suites themselves --------------------------------------------------------------------------

def test_every_expectation_says_why_and_is_one_of_a_kind():
    for name, build in SUITES.items():
        suite = build()
        assert suite.name == name
        idents = [(e.expectation_type, expectation_columns(e)) for e in suite.expectations]
        assert len(idents) == len(set(idents)), name  # (type, columns) names a failure unambiguously
        checks = [e.meta["check"] for e in suite.expectations]
        assert len(checks) == len(set(checks)), name
        for e in suite.expectations:
            assert isinstance(e.notes, str) and len(e.notes) > 30, (name, e.meta)
    assert len(SUITES["pitches"]().expectations) == N_PITCHES
    assert len(SUITES["pitch_features"]().expectations) == N_FEATURES


def test_suites_read_only_columns_of_their_tables():
    for name, build in SUITES.items():
        table = set(table_specs()[name].schema.fieldNames())
        assert set(suite_columns(build())) <= table, name


def test_allowed_sets_are_the_domains():
    suite = SUITES["pitch_features"]()
    sets = {e.column: e.value_set for e in suite.expectations if e.expectation_type == IN_SET}
    assert sets["model_version"] == list(MODEL_VERSIONS)
    levels = {pitcher_alert(r, None, False, 1).level for r in (95, 70, 50)} | {data_quality(0.55).level}
    assert sets["alert_level"] == list(ALERT_LEVELS) and levels == set(ALERT_LEVELS)


def test_level_turns_critical_below_the_platforms_feature_qa_threshold():
    assert FEATURE_QA_CRITICAL == 0.7
    ok = QualityReport("pitches", False, 0.7, 10, ())
    critical = QualityReport("pitches", False, 0.69, 10, ())
    assert (ok.level, critical.level) == ("ok", "critical")


def test_summary_names_the_expectation_and_the_rows():
    failure = Failure(BETWEEN, "release_speed", 1, 0.33,
                      ({"game_pk": 631234, "at_bat_number": 3, "pitch_number": 2, "release_speed": 150.0},),
                      notes="Release speed, mph")
    text = QualityReport("pitches", False, 10 / 11, 11, (failure,)).summary()
    lines = text.splitlines()
    assert lines[0] == "pitches: FAILED, feature QA 0.91 (10/11 expectations met), level ok"
    assert lines[1] == ("  - expect_column_values_to_be_between(release_speed): 1 row(s) (0.33%) "
                        "[game_pk=631234 at_bat_number=3 pitch_number=2 release_speed=150.0] -- Release speed, mph")


# --- bronze: pitches --------------------------------------------------------------------------------

@pytest.mark.spark
def test_a_clean_real_game_day_passes(spark, bronze):
    report = validate(frame(spark, bronze, PITCHES), "pitches")
    assert (report.success, report.feature_qa, report.evaluated, report.failures) == (True, 1.0, N_PITCHES, ())
    assert report.level == "ok"
    assert report.summary() == f"pitches: passed, feature QA 1.00 ({N_PITCHES}/{N_PITCHES} expectations met), level ok"


@pytest.mark.spark
def test_an_empty_batch_has_nothing_wrong_with_it(spark):
    report = validate(spark.createDataFrame([], PITCHES), "pitches")
    assert (report.success, report.feature_qa, report.failures) == (True, 1.0, ())


@pytest.mark.spark
def test_a_150_mph_pitch_fails_the_speed_range_only(spark, bronze):
    report = validate(frame(spark, changed(bronze, 17, release_speed=150.0), PITCHES), "pitches")
    assert report.success is False
    assert failed(report) == [(BETWEEN, "release_speed")]
    (f,) = report.failures
    assert f.unexpected_count == 1
    assert f.sample == ({**key_of(bronze[17]), "release_speed": 150.0},)
    assert report.feature_qa == (N_PITCHES - 1) / N_PITCHES
    assert "release_speed=150.0" in report.summary() and f"game_pk={bronze[17]['game_pk']}" in report.summary()


@pytest.mark.spark
def test_a_repeated_pitch_key_fails_uniqueness_only(spark, bronze):
    rows = [*bronze, {**bronze[42], "source": "replayed.jsonl", "ingest_batch_id": 1}]
    report = validate(frame(spark, rows, PITCHES), "pitches")
    assert report.success is False
    assert failed(report) == [(UNIQUE, "game_pk, at_bat_number, pitch_number")]
    (f,) = report.failures
    assert f.unexpected_count == 2  # both copies are "not unique"
    assert f.sample == (key_of(bronze[42]), key_of(bronze[42]))
    assert report.feature_qa == (N_PITCHES - 1) / N_PITCHES


@pytest.mark.spark
def test_a_spin_of_5000_rpm_fails_the_spin_range_only(spark, bronze):
    report = validate(frame(spark, changed(bronze, 99, release_spin_rate=5000.0), PITCHES), "pitches")
    assert failed(report) == [(BETWEEN, "release_spin_rate")]
    assert report.failures[0].sample == ({**key_of(bronze[99]), "release_spin_rate": 5000.0},)
    assert (report.success, report.feature_qa) == (False, (N_PITCHES - 1) / N_PITCHES)


@pytest.mark.spark
def test_untracked_pitches_are_legal_up_to_the_null_rate_bound(spark, bronze):
    assert all(r["release_speed"] is not None for r in bronze)  # this day is fully tracked
    few = [{**r, "release_speed": None} if i % 20 == 0 else r for i, r in enumerate(bronze)]  # 5 %
    assert validate(frame(spark, few, PITCHES), "pitches").feature_qa == 1.0

    many = [{**r, "release_speed": None} if i % 5 == 0 else r for i, r in enumerate(bronze)]  # 20 %
    report = validate(frame(spark, many, PITCHES), "pitches")
    assert failed(report) == [(NOT_NULL, "release_speed")]  # the range check still ignores nulls
    (f,) = report.failures
    assert (f.unexpected_count, f.unexpected_percent) == (BRONZE_ROWS // 5, pytest.approx(20.0))
    assert len(f.sample) == 20  # capped
    untracked = {tuple(key_of(r).values()) for i, r in enumerate(bronze) if i % 5 == 0}
    assert {tuple(s[k] for k in PITCH_KEY) for s in f.sample} <= untracked


@pytest.mark.spark
def test_enough_broken_gates_make_the_batch_critical_and_leave_nothing_behind(spark, bronze):
    rows = changed(changed(changed(bronze, 5, release_speed=150.0), 6, release_spin_rate=5000.0), 7,
                   release_pos_z=15.0)
    report = validate(frame(spark, [*rows, bronze[8]], PITCHES), "pitches")
    assert failed(report) == [(UNIQUE, "game_pk, at_bat_number, pitch_number"), (BETWEEN, "release_speed"),
                              (BETWEEN, "release_spin_rate"), (BETWEEN, "release_pos_z")]  # the suite's order
    assert report.feature_qa == 7 / N_PITCHES and report.level == "critical"
    # the process-wide GX context keeps no state from one batch to the next
    assert validate(frame(spark, bronze, PITCHES), "pitches").success is True


# --- silver: pitch_features -------------------------------------------------------------------------

@pytest.mark.spark
def test_real_scored_rows_pass(spark, silver):
    assert {r["model_version"] for r in silver} == set(MODEL_VERSIONS)
    report = validate(frame(spark, silver, FEATURES), "pitch_features")
    assert (report.success, report.feature_qa, report.evaluated, report.failures) == (True, 1.0, N_FEATURES, ())


@pytest.mark.spark
def test_a_confidence_of_0_3_fails_the_calibration_range_only(spark, silver):
    report = validate(frame(spark, changed(silver, 31, calibration_confidence=0.3), FEATURES), "pitch_features")
    assert failed(report) == [(BETWEEN, "calibration_confidence")]
    assert report.failures[0].sample == ({**key_of(silver[31], FEATURE_KEY), "calibration_confidence": 0.3},)
    assert (report.success, report.feature_qa) == (False, (N_FEATURES - 1) / N_FEATURES)


@pytest.mark.spark
def test_a_readiness_of_120_fails_the_readiness_range_only(spark, silver):
    report = validate(frame(spark, changed(silver, 64, readiness=120.0), FEATURES), "pitch_features")
    assert failed(report) == [(BETWEEN, "readiness")]
    assert report.failures[0].sample == ({**key_of(silver[64], FEATURE_KEY), "readiness": 120.0},)
    assert (report.success, report.feature_qa) == (False, (N_FEATURES - 1) / N_FEATURES)


@pytest.mark.spark
def test_an_unknown_model_version_fails_the_version_set_only(spark, silver):
    report = validate(frame(spark, changed(silver, 200, model_version="v3"), FEATURES), "pitch_features")
    assert failed(report) == [(IN_SET, "model_version")]
    (f,) = report.failures
    assert f.sample == ({**key_of(silver[200], PITCH_KEY), "model_version": "v3"},)
    assert (report.success, report.feature_qa) == (False, (N_FEATURES - 1) / N_FEATURES)


@pytest.mark.spark
def test_a_check_that_cannot_run_counts_as_unmet_and_says_why(spark, silver):
    df = frame(spark, silver, FEATURES).withColumn("readiness", F.array(F.lit("high")))  # a writer bug
    report = validate(df, "pitch_features")
    assert failed(report) == [(BETWEEN, "readiness")]  # not-null still holds
    (f,) = report.failures
    assert (f.unexpected_count, f.sample) == (None, ())
    assert f.error is not None and "DATATYPE_MISMATCH" in f.error and "\n" not in f.error
    assert "readiness): could not run: [DATATYPE_MISMATCH" in report.summary()
    assert report.feature_qa == (N_FEATURES - 1) / N_FEATURES


# --- bad input --------------------------------------------------------------------------------------

@pytest.mark.spark
def test_an_unknown_suite_is_a_readiness_error_naming_the_known_ones(spark, bronze):
    with pytest.raises(UnknownSuiteError) as caught:
        validate(frame(spark, bronze[:5], PITCHES), "pitchez")
    assert isinstance(caught.value, ReadinessError)
    assert str(caught.value) == "unknown quality suite 'pitchez'; known suites: pitch_features, pitches"


@pytest.mark.spark
def test_a_missing_column_is_a_readiness_error_naming_it(spark, bronze, silver):
    with pytest.raises(MissingColumnsError) as caught:
        validate(frame(spark, bronze[:5], PITCHES).drop("release_spin_rate"), "pitches")
    assert isinstance(caught.value, ReadinessError)
    assert caught.value.missing == ("release_spin_rate",) and "release_spin_rate" in str(caught.value)

    with pytest.raises(MissingColumnsError) as caught:  # a key column: samples could not name their rows
        validate(frame(spark, silver[:5], FEATURES).drop("model_version"), "pitch_features")
    assert caught.value.missing == ("model_version",)
