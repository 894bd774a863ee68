"""Alert episodes: a person is told once when a condition starts, once if it turns critical, once when it ends.

A subject's steps (a pitcher's pitches in one game under one model version; the pitches a tracking system
measured) go through one state machine, `advance`:
  opened     the first step whose level is not ok, when no episode is open;
  escalated  the first critical step of an episode that opened as a warning (once: never back down);
  closed     after CLEAR_STEPS_TO_CLOSE clear steps in a row (hysteresis). A step that is ok but not clear
             (a readiness between 80 and 80 + READINESS_MARGIN) neither raises nor counts toward closing;
             a step that alerts again starts the count over.
A pitcher's episode lives within one outing: a new game starts a new subject (the episode of the last game
stays open in the table until a later pitch of his closes it, or shows as "open" with its last pitch).
The numbers are engineering judgement, not fitted: 5 pitches is about one batter, and 3 points is about the
readiness a 1-sigma velocity wobble moves (domain.scores).

`episodes` folds a whole sequence; the stream calls `advance` per step with the state it keeps, so the two
give the same transitions by construction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from readiness_platform.domain.alerts import WARNING, Alert

CLEAR_STEPS_TO_CLOSE = 5
READINESS_MARGIN = 3.0  # a pitcher's step is clear at readiness >= 80 + this, with no alert
_RANK = {"ok": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Step:
    """One observation of a subject: when, which pitch, the alert it raised and whether it counts as clear."""

    at: datetime
    pitch: tuple[int, int, int]  # (game_pk, at_bat_number, pitch_number)
    alert: Alert
    clear: bool


@dataclass(frozen=True)
class Episode:
    """One episode of a subject, as it stands after its last transition."""

    episode_id: str  # the subject and the pitch that opened it: stable across replays and restarts
    subject: str
    status: str  # "open" or "closed"
    level: str  # the highest level reached
    opened_at: datetime
    opened_pitch: tuple[int, int, int]
    escalated_at: datetime | None
    closed_at: datetime | None
    closed_pitch: tuple[int, int, int] | None
    last_at: datetime  # the subject's last step in the episode
    steps: int  # steps while open (the closing run included)
    reasons: tuple[str, ...]  # every reason seen while open, in order of first appearance


@dataclass(frozen=True)
class Transition:
    """What changed at a step: the event a person is told about, and the episode after it."""

    event: str  # "opened", "escalated" or "closed"
    at: datetime
    pitch: tuple[int, int, int]
    episode: Episode


@dataclass(frozen=True)
class State:
    """What a subject carries between steps."""

    episode: Episode | None = None
    clear_run: int = 0


def pitcher_step(at: datetime, pitch: tuple[int, int, int], alert: Alert, readiness: float) -> Step:
    """A pitch as a step of the pitcher's episodes: clear when nothing alerts and readiness is well above 80."""
    return Step(at, pitch, alert, alert.level == "ok" and readiness >= WARNING["readiness_below"] + READINESS_MARGIN)


def condition_step(at: datetime, pitch: tuple[int, int, int], alert: Alert) -> Step:
    """A step of a system's (or feed's) condition: clear whenever no threshold is crossed."""
    return Step(at, pitch, alert, alert.level == "ok")


def _merge(reasons: tuple[str, ...], new: Iterable[str]) -> tuple[str, ...]:
    seen = {r.split(" ")[0] for r in reasons}  # "readiness 74.2 < 80" -> "readiness": one entry per kind
    out = list(reasons)
    for r in new:
        kind = r.split(" ")[0]
        if kind not in seen:
            seen.add(kind)
            out.append(r)
    return tuple(out)


def advance(subject: str, state: State, step: Step) -> tuple[State, Transition | None]:
    """The state after `step`, and the transition it made (None: nothing a person needs to hear)."""
    ep = state.episode
    if ep is None:
        if step.alert.level == "ok":
            return state, None
        ep = Episode(f"{subject}/{'-'.join(map(str, step.pitch))}", subject, "open", step.alert.level, step.at,
                     step.pitch, None, None, None, step.at, 1, step.alert.reasons)
        return State(ep, 0), Transition("opened", step.at, step.pitch, ep)
    ep = replace(ep, last_at=step.at, steps=ep.steps + 1, reasons=_merge(ep.reasons, step.alert.reasons))
    if _RANK[step.alert.level] > _RANK[ep.level]:
        ep = replace(ep, level=step.alert.level, escalated_at=step.at)
        return State(ep, 0), Transition("escalated", step.at, step.pitch, ep)
    run = state.clear_run + 1 if step.clear else 0
    if run >= CLEAR_STEPS_TO_CLOSE:
        ep = replace(ep, status="closed", closed_at=step.at, closed_pitch=step.pitch)
        return State(None, 0), Transition("closed", step.at, step.pitch, ep)
    return State(ep, run), None


def episodes(subject: str, steps: Iterable[Step]) -> tuple[list[Transition], State]:
    """Every transition of a subject's steps (in order), and the state after the last."""
    state, out = State(), []
    for step in steps:
        state, change = advance(subject, state, step)
        if change is not None:
            out.append(change)
    return out, state


def latest(transitions: Iterable[Transition]) -> list[Episode]:
    """Each episode as its last transition left it, in the order they opened."""
    out: dict[str, Episode] = {}
    for t in transitions:
        out[t.episode.episode_id] = t.episode
    return list(out.values())
