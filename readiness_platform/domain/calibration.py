"""Calibration confidence of a tracking system: 0.95 when calibrated, decaying toward 0.50.

    confidence(t) = 0.50 + 0.45 * 2 ** (-E(t) / 45 min),   E(t) = integral of rate(env) since calibration

The half-life is 45 minutes of ordinary conditions (rate 1). Conditions that move the cameras speed it up;
the factors are documented engineering judgement, not fitted (no public data on Hawk-Eye drift):
    rate = 1 + 0.04 per mph of wind + 0.5 per mm/s of mount vibration + 0.08 per degC of temperature swing
           since the calibration
so a 10 mph wind, 0.5 mm/s of vibration and a 3 degC swing decay 1.89x faster (half-life 24 min). The
reading in force over an interval is the latest one at or before it. A calibration resets E to 0. With no
calibration on record the system is at the floor. Below 0.70 the system needs recalibration.

The policy a ballpark runs (`recalibrations`): a pre-game calibration close to first pitch; the automatic
recalibration whenever confidence falls below 0.70; and an opportunistic one at a break in play when
confidence is below OPPORTUNISTIC_BELOW (0.85), when the cameras can be recalibrated without missing a pitch.
A break is a system idle for BREAK_IDLE_S (90 s) since its last pitch: pitches of an at-bat come a median
22-29 s apart (p90 35-43 s, data README), so 90 s without one is a half-inning break, a pitching change or a
mound visit - each long enough (2 min) to recalibrate. 0.85 is engineering judgement: one half-life of
ordinary decay takes 0.95 to 0.725, so a system calibrated at a break holds above the staff's 0.8 warning
for ~26 minutes of ordinary conditions, about two half-innings.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

CONFIDENCE_MAX = 0.95
CONFIDENCE_FLOOR = 0.50
HALF_LIFE_S = 45 * 60.0
RECALIBRATE_BELOW = 0.70
OPPORTUNISTIC_BELOW = 0.85
BREAK_IDLE_S = 90.0
WIND_PER_MPH = 0.04
VIBRATION_PER_MM_S = 0.5
SWING_PER_DEG_C = 0.08


@dataclass(frozen=True)
class Reading:
    """What the decay needs of an environment reading."""

    at: datetime
    temperature_c: float
    wind_speed_mph: float
    vibration_mm_s: float


def decay_rate(reading: Reading | None, calibrated_temperature_c: float | None) -> float:
    """How many times faster than ordinary the confidence decays under `reading`."""
    if reading is None:
        return 1.0
    swing = 0.0 if calibrated_temperature_c is None else abs(reading.temperature_c - calibrated_temperature_c)
    return 1.0 + WIND_PER_MPH * reading.wind_speed_mph + VIBRATION_PER_MM_S * reading.vibration_mm_s \
        + SWING_PER_DEG_C * swing


def confidence_from_exposure(exposure_s: float) -> float:
    """Confidence after `exposure_s` seconds of rate-1 decay since calibration."""
    value = CONFIDENCE_FLOOR + (CONFIDENCE_MAX - CONFIDENCE_FLOOR) * 2.0 ** (-exposure_s / HALF_LIFE_S)
    return min(CONFIDENCE_MAX, max(CONFIDENCE_FLOOR, value))


class SystemTimeline:
    """One tracking system's calibrations and readings, answering confidence(t) for any t.

    Built once from the (unordered) events; each query is a binary search plus one interval.
    """

    def __init__(self, calibrations: Iterable[datetime], readings: Iterable[Reading]) -> None:
        self.calibrations = sorted(set(calibrations))
        self.readings = sorted(readings, key=lambda r: r.at)
        self.reading_times = [r.at for r in self.readings]

    def reading_at(self, t: datetime) -> Reading | None:
        """The reading in force at t: the latest at or before it."""
        i = bisect_right(self.reading_times, t)
        return self.readings[i - 1] if i else None

    def last_calibration(self, t: datetime) -> datetime | None:
        i = bisect_right(self.calibrations, t)
        return self.calibrations[i - 1] if i else None

    def exposure_s(self, t: datetime) -> float | None:
        """E(t): rate-weighted seconds since the last calibration (None: never calibrated)."""
        start = self.last_calibration(t)
        if start is None:
            return None
        at_calibration = self.reading_at(start)
        base_temperature = at_calibration.temperature_c if at_calibration else None
        total, cursor = 0.0, start
        current = at_calibration
        i = bisect_right(self.reading_times, start)
        while i < len(self.readings) and self.readings[i].at <= t:
            nxt = self.readings[i]
            total += decay_rate(current, base_temperature) * (nxt.at - cursor).total_seconds()
            cursor, current = nxt.at, nxt
            i += 1
        total += decay_rate(current, base_temperature) * (t - cursor).total_seconds()
        return total

    def confidence(self, t: datetime) -> float:
        exposure = self.exposure_s(t)
        return CONFIDENCE_FLOOR if exposure is None else confidence_from_exposure(exposure)


def needs_recalibration(confidence: float) -> bool:
    return confidence < RECALIBRATE_BELOW


def confidences(timeline: SystemTimeline, times: Sequence[datetime]) -> list[float]:
    return [timeline.confidence(t) for t in times]


def idle_spans(pitch_times: Iterable[datetime], until: datetime, idle_s: float = BREAK_IDLE_S
               ) -> list[tuple[datetime, datetime]]:
    """When a system is known to be in a break: from BREAK_IDLE_S after a pitch not followed by another
    within that time, to the next pitch (or `until`, after the last)."""
    times = sorted(set(pitch_times))
    gap = timedelta(seconds=idle_s)
    return [(a + gap, b if b is not None else until) for a, b in zip(times, [*times[1:], None])
            if (b if b is not None else until) > a + gap]


def opportunity(confidence: float, idle_s: float) -> bool:
    """Whether to recalibrate now: below OPPORTUNISTIC_BELOW, and idle for a break."""
    return confidence < OPPORTUNISTIC_BELOW and idle_s >= BREAK_IDLE_S


def recalibrations(start: datetime, end: datetime, readings: Sequence[Reading], response_s: float = 120.0,
                   step_s: float = 30.0, idle: Sequence[tuple[datetime, datetime]] = ()) -> list[datetime]:
    """When a system calibrated at `start` is recalibrated by the platform's loop until `end`, checked every
    `step_s`: when its confidence is below RECALIBRATE_BELOW, or below OPPORTUNISTIC_BELOW during a break
    (`idle`, from `idle_spans`), one lands `response_s` later (the orchestration's reaction). The back-test's
    model of the loop the sensor closes in production (`opportunity` is the rule both apply)."""
    times = [start]
    spans = sorted(idle)
    response = timedelta(seconds=response_s)
    t = start
    while t <= end:
        while spans and spans[0][1] < t:
            spans.pop(0)
        # seconds since the last pitch: a span starts BREAK_IDLE_S after it
        idle_s = (t - spans[0][0]).total_seconds() + BREAK_IDLE_S if spans and spans[0][0] <= t else 0.0
        confidence = SystemTimeline(times, readings).confidence(t)
        if needs_recalibration(confidence) or opportunity(confidence, idle_s):
            times.append(t + response)
            t = times[-1]
        t += timedelta(seconds=step_s)
    return times
