"""Pitchers: the roster with current status, one pitcher's readiness, the alert episodes and their
acknowledgement.

A key sees only the pitchers it is granted: others are left out of lists and answered exactly as an
unknown pitcher is (404), so a key cannot learn who else is tracked. The same holds for an alert episode:
one of a pitcher the key may not see is answered as an unknown episode.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import PrincipalDep, ServicesDep
from api.schemas import AlertEpisode, Alerts, Freshness, Indices, PitcherReadiness, PitcherSummary, Roster
from api.services import Feed, Services
from readiness_platform.feature_store import RECENT_EPISODE_HOURS
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


def episode_body(stored: dict, ack: dict | None) -> AlertEpisode:
    """A stored episode (feature_store.episode_json) and its acknowledgement as the API shows it."""
    return AlertEpisode(
        episode_id=stored["episode_id"], pitcher_id=stored["pitcher_id"], game_pk=stored["game_pk"],
        model_version=stored["model_version"], level=stored["level"], reasons=stored["reasons"],
        status=stored["status"], last_event=stored["event"], opened_at=stored["opened_at"],
        opened_pitch=stored["opened_pitch"], escalated_at=stored["escalated_at"], closed_at=stored["closed_at"],
        last_transition_at=stored["last_transition_at"], pitches=stored["pitches"],
        acknowledged_by=ack["by"] if ack else None, acknowledged_at=ack["at"] if ack else None)


@router.get("/alerts", response_model=Alerts)
def list_alerts(services: ServicesDep, who: PrincipalDep) -> Alerts:
    """Alert episodes of the pitchers this key may see: open ones first (critical first), then the recent."""
    version = services.versions.get()
    shown = [episode_body(e, ack) for e, ack in services.episodes(version) if who.can_see(e["pitcher_id"])]
    shown.sort(key=lambda e: e.last_transition_at, reverse=True)
    shown.sort(key=lambda e: (e.status != "open", e.level != "critical"))  # stable: newest first within
    return Alerts(model_version=version, recent_hours=RECENT_EPISODE_HOURS, episodes=shown)


EPISODE_ID = Path(max_length=200, pattern=r"^pitcher/[A-Za-z0-9_.-]{1,32}/[0-9]{1,19}/[0-9]{1,19}/[0-9]{1,19}-[0-9]{1,9}-[0-9]{1,9}$",
                  description="Id of the episode, as GET /api/alerts lists it.")


@router.post("/alerts/{episode_id:path}/ack", response_model=AlertEpisode)
async def acknowledge_alert(request: Request, services: ServicesDep, who: PrincipalDep,
                            episode_id: str = EPISODE_ID) -> AlertEpisode:
    """Acknowledge an alert episode (operators and admins, for the pitchers they may see); the first stands."""
    who.require_acknowledge()  # NotPermitted -> 403, before anything is looked up
    found = await run_in_threadpool(services.episode, episode_id)
    if found is not None:
        request.state.audit_pitcher = found[0]["pitcher_id"]  # the audit row names the pitcher, as elsewhere
    if found is None or not who.can_see(found[0]["pitcher_id"]):
        raise HTTPException(404, f"no alert episode {episode_id!r}: GET /api/alerts lists the open and recent ones")
    ack = await run_in_threadpool(services.acknowledge, found[0], who.key_id)
    if ack is None:  # the stream dropped it in between (a day of feed time after its last transition)
        raise HTTPException(404, f"no alert episode {episode_id!r}: GET /api/alerts lists the open and recent ones")
    return episode_body(found[0], ack)
