"""Errors of the quality gate: the input to `validate` cannot be checked, and the message says why.

They subclass the platform's root (`readiness_platform.domain.errors.ReadinessError`), so a caller that
handles every platform error handles these too; a failed expectation is never an error, it is a report.
"""

from __future__ import annotations

from collections.abc import Iterable

from readiness_platform.domain.errors import ReadinessError


class QualityInputError(ReadinessError):
    """`validate` was given something it cannot check (unknown suite, missing columns, a stream)."""


class UnknownSuiteError(QualityInputError):
    """No suite has that name; the message lists the ones there are."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f"unknown quality suite {name!r}; known suites: {', '.join(self.known)}")


class MissingColumnsError(QualityInputError):
    """The DataFrame lacks columns the suite reads (or the pitch key its failure samples are named by)."""

    def __init__(self, suite: str, missing: Iterable[str]) -> None:
        self.suite = suite
        self.missing = tuple(missing)
        super().__init__(
            f"suite {suite!r} needs column(s) the DataFrame does not have: {', '.join(self.missing)} "
            f"(build it with table_specs()[{suite!r}].schema)"
        )
