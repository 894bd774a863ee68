"""Pitchers: the roster with current status, one pitcher's readiness, the alert feed.

A key sees only the pitchers it is granted: others are left out of lists and answered exactly as an
unknown pitcher is (404), so a key cannot learn who else is tracked.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException, Path, Query, Response

from api.deps import PrincipalDep, ServicesDep
from api.schemas import Alert, Alerts, Freshness, Indices, PitcherReadiness, PitcherSummary, Roster
from api.services import Feed, Services
from readiness_platform.online import OnlineRow

router = APIRouter(prefix="/api", tags=["pitchers"])
INDICES = ("readiness", "fatigue", "risk")
HEADLINE = (*INDICES, "alert_level", "alert_reasons", "data_quality", "data_quality_reasons", "calibration_confidence",
            "tracking_system_id")


def freshness(row: OnlineRow, feed: Feed, services: Services) -> Freshness:
    limit = services.settings.stale_after_seconds
    newest = max(feed.newest_event_time or row.event_time, row.event_time)
    age = (newest - row.event_time).total_seconds()
    lag = (datetime.now(timezone.utc) - feed.written_at).total_seconds() if feed.written_at else None
    return Freshness(event_time=row.event_time, data_age_s=age, feed_lag_s=lag,
                     stale=age > limit or lag is None or lag > limit, is_final=bool(row.features.get("is_final")))


def _visible(services: Services, who) -> list[int]:  # noqa: ANN001
    return [p for p in services.roster() if who.can_see(p)]


@router.get("/pitchers", response_model=Roster)
def list_pitchers(services: ServicesDep, who: PrincipalDep) -> Roster:
    """Every pitcher this key may see, with current readiness, alert level and staleness."""
    version = services.versions.get()
    rows, feed = services.read(_visible(services, who), version), services.feed()
    return Roster(model_version=version, pitchers=[
        PitcherSummary(pitcher_id=p, readiness=r.features["readiness"], alert_level=r.features["alert_level"],
                       event_time=r.event_time, stale=freshness(r, feed, services).stale)
        for p, r in sorted(rows.items())])


@router.get("/pitchers/{pitcher_id}/readiness", response_model=PitcherReadiness)
def read_readiness(services: ServicesDep, who: PrincipalDep,
                   pitcher_id: int = Path(ge=1, le=2**53, description="MLBAM id of the pitcher"),
                   outing: bool = Query(False, description="Also the outing so far, pitch by pitch.")) -> Response:
    """Readiness, fatigue and risk of one pitcher, with features, alert, calibration and data age."""
    row, feed, points = services.read_one(pitcher_id, outing) if who.can_see(pitcher_id) else (None, None, [])
    if row is None:
        raise HTTPException(404, f"no readiness for pitcher {pitcher_id}")
    body = readiness_body(services, row, feed, outing=outing, raw_outing=points)
    return Response(body.model_dump_json(), media_type="application/json")  # validated once, here


def _registered(services: Services, row: OnlineRow) -> str | None:
    served = services.versions.champion.get()
    return f"{served.name}/{served.version}" if served and served.scoring_version == row.model_version else None


def readiness_body(services: Services, row: OnlineRow, feed: Feed, outing: bool = False,
                   raw_outing: list[bytes] | None = None) -> PitcherReadiness:
    f = row.features
    return PitcherReadiness(
        pitcher_id=row.pitcher_id, model_version=row.model_version, registered_model=_registered(services, row),
        indices=Indices(**{k: f[k] for k in INDICES}),
        alert_level=f["alert_level"], alert_reasons=f["alert_reasons"] or [],
        data_quality=f.get("data_quality"), data_quality_reasons=f.get("data_quality_reasons") or [],
        calibration_confidence=f["calibration_confidence"], tracking_system_id=f["tracking_system_id"],
        features={k: v for k, v in f.items() if k not in HEADLINE},
        freshness=freshness(row, feed, services),
        outing=services.outing(row.pitcher_id, row.model_version, f["game_pk"], raw_outing) if outing else [],
    )


@router.get("/alerts", response_model=Alerts)
def list_alerts(services: ServicesDep, who: PrincipalDep) -> Alerts:
    """Pitchers this key may see whose alert level is warning or critical, most severe first."""
    version = services.versions.get()
    rows, feed = services.read(_visible(services, who), version), services.feed()
    severity = {"critical": 0, "warning": 1}
    alerts = [Alert(pitcher_id=p, alert_level=r.features["alert_level"], alert_reasons=r.features["alert_reasons"] or [],
                    readiness=r.features["readiness"], event_time=r.event_time,
                    stale=freshness(r, feed, services).stale)
              for p, r in rows.items() if r.features["alert_level"] in severity]
    return Alerts(model_version=version,
                  alerts=sorted(alerts, key=lambda a: (severity[a.alert_level], a.readiness or 0.0)))
