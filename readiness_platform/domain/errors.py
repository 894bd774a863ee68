"""The platform's errors: one root, specific subclasses that carry the facts and say what to do."""

from __future__ import annotations


class ReadinessError(Exception):
    """Root of every error the platform raises on purpose."""


class SetupError(ReadinessError):
    """Something the platform needs on this machine is missing; the message names the command that fixes it."""


class StatcastFormatError(ReadinessError):
    """A Statcast CSV is not in a shape the reader knows."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ContractError(ReadinessError):
    """An event does not satisfy the feed contract (domain.events)."""

    def __init__(self, reasons: list[str], payload: str | None = None) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        self.payload = payload
