"""Running a quality suite on a Spark DataFrame and reporting, in the platform's words, what failed where.

    report = validate(batch_df, "pitches")
    if not report.success:
        log.warning(report.summary())

One Great Expectations ephemeral context, Spark data source and whole-DataFrame batch definition serve the
whole process (built on first use, behind a lock: GX's batch manager is not thread-safe, and streams may
validate from several threads). The DataFrame is projected to the columns the suite reads and cached for
the run, since GX issues one Spark job per metric.

Two passes keep a clean batch cheap: the whole suite runs with BOOLEAN_ONLY (aggregates only, ~9 Spark
jobs for `pitches`); only the expectations that failed run again with SUMMARY to name the failing rows
by the table key (`unexpected_index_column_names`), which costs about two more jobs per expectation.
Measured on the 2020-09-03 game day (2,507 pitches, local[2] shared with other Spark work): a clean
`pitches` batch ~1.2-1.6 s, one with two defects ~2.1-2.4 s, the first call of a process ~3.5 s.
"""

from __future__ import annotations

import threading
from copy import copy
from dataclasses import dataclass
from typing import Any

import great_expectations as gx
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from pyspark import StorageLevel
from pyspark.sql import DataFrame

from expectations.errors import MissingColumnsError, QualityInputError, UnknownSuiteError
from expectations.suites import SUITE_KEYS, SUITES, expectation_columns, suite_columns
from readiness_platform.domain.alerts import CRITICAL

FEATURE_QA_CRITICAL = CRITICAL["feature_qa_below"]  # 0.7: below it the batch's alert level is critical
SAMPLE_ROWS = 20  # failing rows named per expectation

_lock = threading.RLock()
_batch_definition: BatchDefinition | None = None
_suites: dict[str, gx.ExpectationSuite] = {}


@dataclass(frozen=True)
class Failure:
    """One expectation the data did not meet, and the rows that broke it."""

    expectation: str  # GX type, e.g. "expect_column_values_to_be_between"
    column: str  # the column, or the compound key's columns joined by ", "
    unexpected_count: int | None  # rows that broke it (None if GX raised instead of counting)
    unexpected_percent: float | None  # percent of the non-null rows it looked at, 0-100
    sample: tuple[dict[str, Any], ...]  # up to SAMPLE_ROWS failing rows: key columns + the offending value
    notes: str = ""  # why the expectation exists (from the suite)
    error: str | None = None  # GX's exception message when the check itself could not run

    def describe(self) -> str:
        """One log line: what failed, on how many rows, which rows, and why it matters."""
        if self.error is not None:
            return f"{self.expectation}({self.column}): could not run: {self.error}"
        pct = "" if self.unexpected_percent is None else f" ({self.unexpected_percent:.2f}%)"
        rows = "; ".join(" ".join(f"{k}={v}" for k, v in row.items()) for row in self.sample)
        more = " ..." if self.unexpected_count is not None and self.unexpected_count > len(self.sample) else ""
        line = f"{self.expectation}({self.column}): {self.unexpected_count} row(s){pct}"
        if rows:
            line += f" [{rows}{more}]"
        return f"{line} -- {self.notes}" if self.notes else line


@dataclass(frozen=True)
class QualityReport:
    """What a suite found in one DataFrame."""

    suite: str
    success: bool
    feature_qa: float  # share of the suite's expectations met, 0-1
    evaluated: int
    failures: tuple[Failure, ...]

    @property
    def met(self) -> int:
        return self.evaluated - len(self.failures)

    @property
    def level(self) -> str:
        """"critical" when fewer than FEATURE_QA_CRITICAL of the expectations hold (the platform's alert
        threshold for feature QA), else "ok"."""
        return "critical" if self.feature_qa < FEATURE_QA_CRITICAL else "ok"

    def summary(self) -> str:
        """Multi-line text for logs and the UI: the verdict, then each failed expectation with its rows."""
        verdict = "passed" if self.success else "FAILED"
        head = (f"{self.suite}: {verdict}, feature QA {self.feature_qa:.2f} "
                f"({self.met}/{self.evaluated} expectations met), level {self.level}")
        return "\n".join([head, *(f"  - {f.describe()}" for f in self.failures)])


def suite(name: str) -> gx.ExpectationSuite:
    """The named suite, built once per process."""
    if name not in SUITES:
        raise UnknownSuiteError(name, SUITES)
    with _lock:
        if name not in _suites:
            _suites[name] = SUITES[name]()
        return _suites[name]


def _batches() -> BatchDefinition:
    """The process's GX context -> Spark data source -> DataFrame asset -> whole-DataFrame batch definition.

    The data source does not persist the DataFrame itself (`persist=False`): `validate` caches the
    projection it hands over and unpersists it, where GX would leave every batch cached."""
    global _batch_definition
    with _lock:
        if _batch_definition is None:
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            source = context.data_sources.add_spark("readiness_spark", persist=False)
            asset = source.add_dataframe_asset("lakehouse_frame")
            _batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")
        return _batch_definition


def _ident(expectation_type: str, columns: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """(type, columns): names an expectation within a suite (the suites keep it unique)."""
    return (expectation_type, columns)


def _config(result: ExpectationValidationResult) -> ExpectationConfiguration:
    """The configuration a suite result carries (GX sets it on every result of a suite run)."""
    if result.expectation_config is None:
        raise RuntimeError("Great Expectations returned a result without its expectation")
    return result.expectation_config


def _type(result: ExpectationValidationResult) -> str:
    return _config(result).type


def _result_columns(result: ExpectationValidationResult) -> tuple[str, ...]:
    kwargs = _config(result).kwargs
    if kwargs.get("column") is not None:
        return (kwargs["column"],)
    return tuple(kwargs.get("column_list") or ())


def _error(result: ExpectationValidationResult) -> str | None:
    """GX's exception message(s) for a check that could not run: first lines only (Spark appends the
    whole plan), each once."""
    info = result.exception_info or {}
    if "raised_exception" in info:  # one exception, or one per metric keyed by metric id
        info = {"": info}
    messages = [str(i.get("exception_message") or "").strip().splitlines()
                for i in info.values() if isinstance(i, dict) and i.get("raised_exception")]
    firsts = dict.fromkeys(m[0].rstrip(";") for m in messages if m)
    return "; ".join(firsts) if messages else None


def _failure(result: ExpectationValidationResult) -> Failure:
    details = result.result or {}
    # GX names each failing row by the key columns, then the checked column's value
    sample = tuple(dict(row) for row in (details.get("partial_unexpected_index_list") or [])[:SAMPLE_ROWS])
    notes = _config(result).notes
    return Failure(
        expectation=_type(result),
        column=", ".join(_result_columns(result)),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        sample=sample,
        notes=" ".join(notes) if isinstance(notes, list) else (notes or ""),
        error=_error(result),
    )


def validate(df: DataFrame, suite_name: str) -> QualityReport:
    """Run suite `suite_name` on `df` (a batch DataFrame with the suite's table schema).

    Raises UnknownSuiteError for a suite that does not exist and MissingColumnsError when `df` lacks a
    column the suite reads or a key column its samples are named by. Failed expectations are not errors:
    they are in the report. An empty DataFrame passes: no row breaks a row-level rule (whether data
    arrived at all is the stream metrics' question, not this gate's)."""
    checks = suite(suite_name)
    if df.isStreaming:
        raise QualityInputError(
            f"suite {suite_name!r}: a streaming DataFrame cannot be validated directly; "
            "validate each micro-batch inside foreachBatch")
    columns = suite_columns(checks)
    present = set(df.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise MissingColumnsError(suite_name, missing)
    key = SUITE_KEYS[suite_name]

    frame = df.select(*columns)
    owned = df.storageLevel == StorageLevel.NONE  # an already cached input is read from its cache
    if owned:
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with _lock:
            batch = _batches().get_batch(batch_parameters={"dataframe": frame})
            verdict: ExpectationSuiteValidationResult = batch.validate(
                checks, result_format={"result_format": "BOOLEAN_ONLY"})
            failed = {_ident(_type(r), _result_columns(r)) for r in verdict.results if not r.success}
            details: list[ExpectationValidationResult] = []
            if failed:
                retry = gx.ExpectationSuite(name=checks.name, expectations=[
                    copy(e) for e in checks.expectations if _ident(e.expectation_type, expectation_columns(e)) in failed])
                details = batch.validate(retry, result_format={
                    "result_format": "SUMMARY",
                    "unexpected_index_column_names": list(key),
                    "partial_unexpected_count": SAMPLE_ROWS,
                    "return_unexpected_index_query": False,
                }).results
    finally:
        if owned:
            frame.unpersist()

    stats = verdict.statistics
    evaluated = int(stats["evaluated_expectations"])
    met = int(stats["successful_expectations"])
    order = {_ident(e.expectation_type, expectation_columns(e)): i for i, e in enumerate(checks.expectations)}
    ranked = sorted(details, key=lambda r: order.get(_ident(_type(r), _result_columns(r)), len(order)))
    return QualityReport(
        suite=suite_name,
        success=bool(verdict.success),
        feature_qa=met / evaluated if evaluated else 0.0,
        evaluated=evaluated,
        failures=tuple(_failure(r) for r in ranked),  # in the suite's order
    )
