"""The v1 -> v2 cutover decision: the evidence comparing two model versions, and the gates it must pass.

Evidence is computed over a window of silver `pitch_features`, where both versions score every pitch:
  coverage          share of the baseline version's pitches the candidate also scored;
  level_agreement   share of pitches where both give the same alert level;
  readiness_mae     mean absolute difference of readiness (0-100 points);
  alert_rate_*      share of pitcher-games with at least one warning-or-critical alert, per version:
                    the rate a coaching staff feels as (false) alarms.
A candidate goes live only if every gate holds; the thresholds are the defaults below, overridable per run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    baseline: str
    candidate: str
    window: str
    pitches: int  # of the baseline version in the window
    coverage: float
    level_agreement: float
    readiness_mae: float
    readiness_corr: float | None
    alert_rate_baseline: float
    alert_rate_candidate: float
    pitcher_games: int

    @property
    def alert_rate_change(self) -> float:
        return self.alert_rate_candidate - self.alert_rate_baseline


@dataclass(frozen=True)
class Gates:
    min_pitches: int = 100  # less is no evidence
    min_coverage: float = 0.99
    min_level_agreement: float = 0.60  # v2 is meant to differ where data is late or cameras drift
    max_readiness_mae: float = 15.0
    max_alert_rate_increase: float = 0.05  # at most 5 points more pitcher-games alerting


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    value: float
    threshold: float
    text: str


def judge(e: Evidence, g: Gates) -> list[GateResult]:
    """Each gate on the evidence, passed or not, with the figures that decided it."""
    return [
        GateResult("sample", e.pitches >= g.min_pitches, e.pitches, g.min_pitches,
                   f"{e.pitches} pitches in the window (at least {g.min_pitches})"),
        GateResult("coverage", e.coverage >= g.min_coverage, e.coverage, g.min_coverage,
                   f"{e.candidate} scored {e.coverage:.1%} of {e.baseline}'s pitches (at least {g.min_coverage:.0%})"),
        GateResult("score_agreement",
                   e.level_agreement >= g.min_level_agreement and e.readiness_mae <= g.max_readiness_mae,
                   e.level_agreement, g.min_level_agreement,
                   f"same alert level on {e.level_agreement:.1%} of pitches (at least {g.min_level_agreement:.0%}); "
                   f"readiness differs by {e.readiness_mae:.1f} points on average (at most {g.max_readiness_mae:g})"),
        GateResult("alert_rate_change", e.alert_rate_change <= g.max_alert_rate_increase, e.alert_rate_change,
                   g.max_alert_rate_increase,
                   f"pitcher-games alerting: {e.alert_rate_baseline:.1%} -> {e.alert_rate_candidate:.1%} "
                   f"({e.alert_rate_change:+.1%}; at most {g.max_alert_rate_increase:+.0%})"),
    ]
