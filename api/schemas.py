"""What the API answers (the OpenAPI schema): readiness of a pitcher, the roster, alerts, calibration."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Freshness(BaseModel):
    """How old the data is: never passed off as live when it is not."""

    event_time: datetime = Field(description="Event time of the pitch the values come from (UTC).")
    data_age_s: float = Field(description="Seconds between that pitch and the newest pitch the feed delivered.")
    feed_lag_s: float | None = Field(description="Seconds since the online store was last written (wall clock).")
    stale: bool = Field(description="True when data_age_s or feed_lag_s is beyond the staleness limit.")
    is_final: bool = Field(description="False while later-arriving pitches may still change the values.")


class Indices(BaseModel):
    readiness: float | None
    fatigue: float | None
    risk: float | None


class PitcherReadiness(BaseModel):
    """One pitcher's latest readiness under the active feature model."""

    pitcher_id: int
    model_version: str = Field(description="The scoring version of the values (v1, v2, ...).")
    registered_model: str | None = Field(
        None, description="The MLflow model version serving it (`<name>/<version>`, the champion), if registered.")
    indices: Indices
    alert_level: str | None = Field(description="The pitcher's own alert (readiness, velocity): ok, warning, critical.")
    alert_reasons: list[str]
    data_quality: str | None = Field(
        None, description="Condition of the tracking system and feed behind the values (calibration, late data): "
        "ok, warning or critical. Raised once per system in /api/alerts, shown here beside the score.")
    data_quality_reasons: list[str] = Field(default_factory=list)
    calibration_confidence: float | None
    tracking_system_id: str | None
    features: dict[str, float | int | str | bool | None]
    freshness: Freshness
    outing: list[dict] = Field(default_factory=list,
                               description="The outing so far, per pitch: readiness, velocity delta, alert level, "
                               "calibration confidence, late fraction, final or not.")


class PitcherSummary(BaseModel):
    pitcher_id: int
    readiness: float | None
    alert_level: str | None
    event_time: datetime
    stale: bool


class Roster(BaseModel):
    model_version: str
    pitchers: list[PitcherSummary]


class Alert(BaseModel):
    pitcher_id: int
    alert_level: str
    alert_reasons: list[str]
    readiness: float | None
    event_time: datetime
    stale: bool


class Alerts(BaseModel):
    model_version: str
    alerts: list[Alert]


class Calibration(BaseModel):
    tracking_system_id: str
    confidence: float = Field(description="Calibration confidence now (feed time), 0.50-0.95.")
    recalibration_needed: bool
    as_of: datetime
    last_calibration: datetime | None


class RecalibrationRequest(BaseModel):
    reason: str = Field("requested from the API", max_length=300)


class RecalibrationLaunched(BaseModel):
    run_id: str
    tracking_system_id: str
    status: str = "launched"
