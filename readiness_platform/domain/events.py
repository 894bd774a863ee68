"""The feed contract: typed, versioned records for a tracked pitch, an environment reading and a calibration.

The replay writes these records as JSON lines; the stream validates every line against the same models
(transforms.contract derives its Spark schema and checks from them), and `feed_event.v1.json` beside this
file is their JSON Schema for producers in other languages. Units are stated on every measured field.
One pitch key: (game_pk, at_bat_number, pitch_number).

Event time is what the stream's watermark follows, so the contract only takes one it can trust: an
ISO-8601 string with a time zone (never a number, which pydantic would read as Unix seconds), no further
than MAX_AHEAD_OF_INGEST ahead of the message's own ingest_time (the feed's delivery clock), and, for a
pitch, within its game's day (GAME_DAY_MARGIN). A record that breaks one of these goes to quarantine like
any other broken record, before deduplication and the watermark see it (docs/event-time.md).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, field_validator,
                      model_validator)

from readiness_platform.domain.pitch_types import PitchFamily

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS: frozenset[int] = frozenset({1})
PITCH_KEY: tuple[str, str, str] = ("game_pk", "at_bat_number", "pitch_number")

# How far an event may lie ahead of its own ingest_time: clock skew between a ballpark's cameras and the
# feed's delivery clock is seconds; minutes allow for a badly synchronised producer, and anything beyond is
# a broken clock that would move the watermark past every real event (engineering judgement, not measured).
MAX_AHEAD_OF_INGEST = timedelta(minutes=5)
# A pitch's game_date is the official date, local to the park. The window [game_date 00:00 UTC - margin,
# game_date + 1 day 00:00 UTC + margin] holds that local day in every time zone from UTC+14 to UTC-10, and,
# in every MLB park (UTC-4 to UTC-8), at least 6 hours past local midnight for extra innings and rain
# delays; the longest MLB game on record took 8 h 6 min. Engineering judgement: a game resumed on a later
# date under its original game_date falls outside and is quarantined (docs/event-time.md).
GAME_DAY_MARGIN = timedelta(hours=14)

_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_datetime_text(value: Any) -> Any:
    """Only an ISO-8601 date and time (or a datetime, in Python): lax pydantic reads numbers, and strings
    of digits, as Unix seconds - a camera's counter or a producer's bug would become a plausible time."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATETIME.match(value)):
        return value
    raise ValueError(f"timestamps must be ISO-8601 strings with a time zone, e.g. 2020-09-03T23:05:00Z, "
                     f"not {type(value).__name__} {str(value)[:40]!r}")


def _iso_date_text(value: Any) -> Any:
    if (isinstance(value, date) and not isinstance(value, datetime)) or (
            isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError(f"dates must be ISO-8601 strings (YYYY-MM-DD), not {type(value).__name__} {str(value)[:40]!r}")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone (UTC expected)")
    return value.astimezone(timezone.utc)


def _z(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_datetime_text), AfterValidator(_utc)]
IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]


def game_day_window(game_date: date) -> tuple[datetime, datetime]:
    """The event times a pitch of a game with this official (local) date may have, both ends included."""
    midnight = datetime.combine(game_date, time(0), timezone.utc)
    return midnight - GAME_DAY_MARGIN, midnight + timedelta(days=1) + GAME_DAY_MARGIN


SystemId = Annotated[str, Field(pattern=r"^[a-z0-9_]{2,40}$", description="Tracking system, e.g. busch_iii.")]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this contract the record follows.")
    event_time: UtcDatetime = Field(
        description="When it happened on the field: ISO-8601 with a time zone (UTC), no more than "
        f"{MAX_AHEAD_OF_INGEST.total_seconds() / 60:g} min later than ingest_time.")
    ingest_time: UtcDatetime | None = Field(
        None, description="When the feed delivered it to the platform (UTC); set at delivery."
    )

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            supported = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
            raise ValueError(f"unsupported schema_version {version} (supported: {supported})")
        return version

    @model_validator(mode="after")
    def _not_ahead_of_its_delivery(self) -> "_Event":
        if self.ingest_time is not None and self.event_time - self.ingest_time > MAX_AHEAD_OF_INGEST:
            ahead = timedelta(seconds=round((self.event_time - self.ingest_time).total_seconds()))
            raise ValueError(
                f"event_time {_z(self.event_time)} is {ahead} ahead of its ingest_time "
                f"{_z(self.ingest_time)} (at most {MAX_AHEAD_OF_INGEST} allowed): the producer's clock is wrong")
        return self


class TrackedPitch(_Event):
    """One pitch as the tracking system reports it."""

    kind: Literal["pitch"] = "pitch"
    game_pk: int = Field(gt=0, description="MLB game id.")
    at_bat_number: int = Field(ge=1, le=250, description="Plate appearance number within the game.")
    pitch_number: int = Field(ge=1, le=40, description="Pitch number within the plate appearance.")
    game_date: IsoDate = Field(description="Official game date (local to the park); the pitch's event_time lies "
                               f"within it, give or take {GAME_DAY_MARGIN.total_seconds() / 3600:g} h (UTC).")
    pitcher_id: int = Field(gt=0, description="MLBAM id of the pitcher.")
    pitcher_name: str | None = Field(None, max_length=80, description="Pitcher's name as the feed spells it.")
    p_throws: Literal["L", "R"] | None = Field(None, description="Pitching hand.")
    batter_id: int | None = Field(None, gt=0, description="MLBAM id of the batter.")
    home_team: str = Field(min_length=2, max_length=4, description="Home club code; the park is its venue.")
    away_team: str = Field(min_length=2, max_length=4, description="Visiting club code.")
    inning: int | None = Field(None, ge=1, le=30, description="Inning.")
    inning_topbot: Literal["Top", "Bot"] | None = Field(None, description="Half inning.")
    balls: int | None = Field(None, ge=0, le=3, description="Balls before the pitch.")
    strikes: int | None = Field(None, ge=0, le=2, description="Strikes before the pitch.")
    outs_when_up: int | None = Field(None, ge=0, le=2, description="Outs before the pitch.")
    pitch_type: str | None = Field(None, max_length=4, description="Statcast pitch label (FF, SL, ...).")
    pitch_family: PitchFamily = Field(description="Family the label maps to (domain.pitch_types).")
    release_speed: float | None = Field(None, ge=40, le=110, description="Release speed, mph; null if untracked.")
    release_spin_rate: float | None = Field(None, ge=0, le=4000, description="Spin rate, rpm; null if untracked.")
    spin_axis: float | None = Field(None, ge=0, le=360, description="Spin axis, degrees (Hawk-Eye era).")
    release_pos_x: float | None = Field(None, ge=-10, le=10, description="Horizontal release point, ft.")
    release_pos_z: float | None = Field(None, ge=0, le=10, description="Release height, ft.")
    release_extension: float | None = Field(None, ge=0, le=12, description="Release extension, ft.")
    pfx_x: float | None = Field(None, ge=-40, le=40, description="Horizontal movement, inches (catcher's view).")
    pfx_z: float | None = Field(None, ge=-40, le=40, description="Induced vertical movement, inches.")
    plate_x: float | None = Field(None, ge=-10, le=10, description="Horizontal location at the plate, ft.")
    plate_z: float | None = Field(None, ge=-5, le=15, description="Height at the plate, ft.")
    vx0: float | None = Field(None, ge=-60, le=60, description="Velocity x at y=50 ft, ft/s.")
    vy0: float | None = Field(None, ge=-170, le=-50, description="Velocity y at y=50 ft, ft/s.")
    vz0: float | None = Field(None, ge=-60, le=60, description="Velocity z at y=50 ft, ft/s.")
    ax: float | None = Field(None, ge=-80, le=80, description="Acceleration x, ft/s^2.")
    ay: float | None = Field(None, ge=-10, le=80, description="Acceleration y, ft/s^2.")
    az: float | None = Field(None, ge=-80, le=30, description="Acceleration z, ft/s^2.")
    tracking_system_id: SystemId

    @model_validator(mode="after")
    def _within_its_game_day(self) -> "TrackedPitch":
        first, last = game_day_window(self.game_date)
        if not first <= self.event_time <= last:
            raise ValueError(
                f"event_time {_z(self.event_time)} is outside its game's day (game_date {self.game_date}: "
                f"{_z(first)} to {_z(last)})")
        return self

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.game_pk, self.at_bat_number, self.pitch_number)

    @property
    def is_tracked(self) -> bool:
        """Untracked pitches miss speed or spin: windows skip them rather than read them as zero."""
        return self.release_speed is not None and self.release_spin_rate is not None


class EnvironmentReading(_Event):
    """Weather and structure readings at a tracking system, every few tens of seconds."""

    kind: Literal["environment"] = "environment"
    tracking_system_id: SystemId
    temperature_c: float = Field(ge=-30, le=55, description="Air temperature, degrees Celsius.")
    pressure_hpa: float | None = Field(None, ge=600, le=1100, description="Station pressure, hPa.")
    elevation_m: float | None = Field(None, ge=-100, le=4000, description="Field elevation, m.")
    relative_humidity_pct: float = Field(ge=0, le=100, description="Relative humidity, percent.")
    wind_speed_mph: float = Field(ge=0, le=100, description="Wind speed, mph.")
    wind_direction_deg: float = Field(ge=0, le=360, description="Wind from, degrees (0 = from center field).")
    vibration_mm_s: float = Field(ge=0, le=100, description="Camera mount vibration, RMS velocity, mm/s.")

    # Air density needs one of the two; the stream checks the same rule (domain.contract).
    one_of: ClassVar[tuple[tuple[str, ...], ...]] = (("pressure_hpa", "elevation_m"),)

    @model_validator(mode="after")
    def _pressure_or_elevation(self) -> "EnvironmentReading":
        for names in self.one_of:
            if all(getattr(self, n) is None for n in names):
                raise ValueError(f"an environment reading needs one of {', '.join(names)}")
        return self


CalibrationTrigger = Literal["pregame", "scheduled", "confidence_low", "manual"]


class CalibrationEvent(_Event):
    """A tracking system was calibrated: its confidence goes back to the maximum."""

    kind: Literal["calibration"] = "calibration"
    calibration_id: str = Field(min_length=1, max_length=80, description="Unique id of this calibration.")
    tracking_system_id: SystemId
    trigger: CalibrationTrigger = Field(description="Why it was calibrated.")
    reason: str | None = Field(None, max_length=400, description="Free text: who or what asked for it.")


FeedEvent = Annotated[Union[TrackedPitch, EnvironmentReading, CalibrationEvent], Field(discriminator="kind")]
FEED_EVENT = TypeAdapter(FeedEvent)
EVENT_MODELS: dict[str, type[_Event]] = {
    "pitch": TrackedPitch,
    "environment": EnvironmentReading,
    "calibration": CalibrationEvent,
}


def feed_json_schema() -> dict:
    """JSON Schema of one feed line (any of the three records, told apart by `kind`)."""
    schema = FEED_EVENT.json_schema()
    schema["$id"] = "https://readiness.example/schemas/feed_event.v1.json"
    schema["title"] = "FeedEvent"
    return schema
