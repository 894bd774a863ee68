"""The replayed feed: pitches, environment readings and calibrations interleaved, then delivered.

Environment readings are simulated: the Statcast files carry no weather or camera-mount data. Each park's
readings start from its elevation (standard-atmosphere pressure) and drift as a seeded random walk; the
values stay inside ranges a ballpark sees on a game night and are labelled as simulated in the docs.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from readiness_platform.domain.events import CalibrationEvent, EnvironmentReading, TrackedPitch
from readiness_platform.domain.venues import VENUES
from readiness_platform.replay.lag import FeedItem

PREGAME_CALIBRATION = timedelta(minutes=10)  # close to first pitch: the policy in domain.calibration
AFTER_LAST_PITCH = timedelta(minutes=5)


def pitch_key(p: TrackedPitch) -> str:
    return f"{p.game_pk}/{p.at_bat_number}/{p.pitch_number}"


def station_pressure_hpa(elevation_m: float) -> float:
    """Standard-atmosphere pressure at an elevation (ICAO barometric formula)."""
    return 1013.25 * (1.0 - 2.25577e-5 * elevation_m) ** 5.25588


@dataclass(frozen=True)
class Session:
    """A stretch of time a tracking system is in use: its games of one day, from calibration to close."""

    tracking_system_id: str
    home_team: str
    start: datetime
    end: datetime


def sessions_of(pitches: Sequence[TrackedPitch]) -> list[Session]:
    spans: dict[tuple[str, str, object], list[datetime]] = defaultdict(list)
    for p in pitches:
        spans[(p.tracking_system_id, p.home_team, p.game_date)].append(p.event_time)
    return [
        Session(system, home, min(times) - PREGAME_CALIBRATION, max(times) + AFTER_LAST_PITCH)
        for (system, home, _), times in sorted(spans.items(), key=lambda kv: min(kv[1]))
    ]


def environment_readings(session: Session, every_s: float, rng: random.Random) -> list[EnvironmentReading]:
    venue = VENUES.get(session.home_team)
    elevation = venue.elevation_m if venue else 0.0
    temperature = rng.uniform(12.0, 32.0)
    humidity = rng.uniform(30.0, 85.0)
    pressure = station_pressure_hpa(elevation) + rng.uniform(-8.0, 8.0)
    wind, direction = rng.uniform(0.0, 12.0), rng.uniform(0.0, 360.0)
    readings = []
    t = session.start
    while t <= session.end:
        temperature = min(40.0, max(0.0, temperature + rng.gauss(-0.01, 0.05)))  # evenings cool slowly
        humidity = min(100.0, max(5.0, humidity + rng.gauss(0.02, 0.2)))
        wind = min(35.0, max(0.0, wind + rng.gauss(0.0, 0.6)))
        direction = (direction + rng.gauss(0.0, 4.0)) % 360.0
        vibration = max(0.05, rng.lognormvariate(-1.2, 0.6))  # crowd and PA: mostly < 1 mm/s, rare spikes
        readings.append(
            EnvironmentReading(
                event_time=t,
                tracking_system_id=session.tracking_system_id,
                temperature_c=round(temperature, 2),
                pressure_hpa=round(pressure, 2),
                elevation_m=elevation,
                relative_humidity_pct=round(humidity, 1),
                wind_speed_mph=round(wind, 2),
                wind_direction_deg=round(direction, 1),
                vibration_mm_s=round(vibration, 3),
            )
        )
        t += timedelta(seconds=every_s)
    return readings


def feed_items(pitches: Sequence[TrackedPitch], seed: int = 7, environment_every_s: float = 60.0) -> list[FeedItem]:
    """Every event of the replay, in event-time order: pitches, readings, and a pre-game calibration."""
    rng = random.Random(f"environment-{seed}")
    items = [
        FeedItem(p.event_time, "pitch", pitch_key(p), p.model_dump(mode="json", exclude={"ingest_time"}))
        for p in pitches
    ]
    for s in sessions_of(pitches):
        calibration = CalibrationEvent(
            event_time=s.start,
            calibration_id=f"{s.tracking_system_id}-{s.start:%Y%m%dT%H%M%S}-pregame",
            tracking_system_id=s.tracking_system_id,
            trigger="pregame",
            reason="pre-game calibration",
        )
        items.append(FeedItem(calibration.event_time, "calibration", calibration.calibration_id,
                              calibration.model_dump(mode="json", exclude={"ingest_time"})))
        for r in environment_readings(s, environment_every_s, rng):
            key = f"{r.tracking_system_id}@{r.event_time.isoformat()}"
            items.append(FeedItem(r.event_time, "environment", key, r.model_dump(mode="json", exclude={"ingest_time"})))
    items.sort(key=lambda i: (i.event_time, i.kind, i.key))
    return items
