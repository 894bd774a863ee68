"""The read service end to end against the real Redis and PostgreSQL: routes, grants, audit, failure modes."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from api.keys import KeyStore
from api.main import create_app
from readiness_platform import deployments
from readiness_platform.feature_store import apply_repo, write_online
from readiness_platform.settings import Settings, get_settings

pytestmark = pytest.mark.services
REDIS_DB = "redis://127.0.0.1:56379/9"
T0 = datetime(2020, 9, 3, 23, 10, 0)


def scored_row(pitcher: int, version: str, pitch: int, readiness: float, alert: str = "ok", final: bool = True) -> dict:
    """A row as the stream scores it (the columns the online store keeps)."""
    return {"pitcher_id": pitcher, "model_version": version, "event_time": T0 + timedelta(seconds=20 * pitch),
            "readiness": readiness, "fatigue": 100 - readiness, "risk": 20.0, "alert_level": alert,
            "alert_reasons": [] if alert == "ok" else ["velocity down"], "data_confidence": 0.9,
            "calibration_confidence": 0.88, "recalibration_needed": False, "tracking_system_id": "hawkeye-ATL",
            "velo_delta_mph": -0.1 * pitch, "velo_z": -0.2, "spin_cv": 0.02, "release_height_sd_ft": 0.1,
            "break_delta_in": 0.3, "air_density_ratio": 1.01, "pitch_count_game": pitch, "pitches_last_3d": 0,
            "days_since_prev_outing": 5, "late_fraction": 0.0, "release_speed": 95.0 - 0.1 * pitch,
            "pitch_family": "fastball", "game_pk": 631377, "at_bat_number": pitch // 4 + 1, "pitch_number": pitch % 4 + 1,
            "is_final": final}


@pytest.fixture
def api_settings(tmp_path, pg_url) -> Settings:  # noqa: ANN001
    client = redis.Redis.from_url(REDIS_DB)
    client.flushdb()
    settings = get_settings(home=tmp_path, feast_env="production", redis_url=REDIS_DB, database_url=pg_url,
                            rate_limit_per_second=1000, stale_after_seconds=3600 * 24 * 365 * 20)
    apply_repo(settings)
    rows = [scored_row(p, v, n, 80.0 - n - p + (v == "v2") * 5, alert="critical" if p == 3 else "ok")
            for p in (1, 2, 3, 4) for v in ("v1", "v2") for n in (1, 2, 3)]
    for n in (1, 2, 3):
        write_online(settings, [r for r in rows if r["pitch_count_game"] == n], client)
    return settings


@pytest.fixture
def keys(api_settings) -> Iterator[dict[str, str]]:  # noqa: ANN001
    with KeyStore(api_settings.database_url) as store:
        store.ensure_schema()
        yield {
            "admin": store.issue("ops", "admin").token,
            "viewer": store.issue("bullpen coach", "viewer", pitchers=[1, 2]).token,
            "operator": store.issue("tracking ops", "operator", pitchers=[3]).token,
        }


@pytest.fixture
def client(api_settings, keys) -> Iterator[TestClient]:  # noqa: ANN001
    with TestClient(create_app(api_settings)) as c:
        yield c


def get(client: TestClient, path: str, token: str | None):  # noqa: ANN201
    return client.get(path, headers={"X-API-Key": token} if token else {})


def test_read_readiness_returns_indices_features_and_the_age_of_the_data(client, keys):
    r = get(client, "/api/pitchers/1/readiness?outing=true", keys["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == "v1" and body["registered_model"] is None  # no registry in this home
    assert body["indices"] == {"readiness": 76.0, "fatigue": 24.0, "risk": 20.0}  # pitch 3 of pitcher 1, v1
    assert body["freshness"]["event_time"].startswith("2020-09-03T23:11:00")
    assert body["freshness"]["data_age_s"] == 0.0 and body["freshness"]["is_final"] is True
    assert body["calibration_confidence"] == 0.88 and body["features"]["pitch_count_game"] == 3
    assert [p["readiness"] for p in body["outing"]] == [78.0, 77.0, 76.0]


def test_read_readiness_unknown_and_forbidden_pitchers_are_the_same_404(client, keys):
    unknown, forbidden = get(client, "/api/pitchers/999/readiness", keys["viewer"]), get(
        client, "/api/pitchers/3/readiness", keys["viewer"])
    assert unknown.status_code == forbidden.status_code == 404
    assert unknown.json()["detail"].replace("999", "N") == forbidden.json()["detail"].replace("3", "N")


@pytest.mark.parametrize("role, visible", [("admin", {1, 2, 3, 4}), ("viewer", {1, 2}), ("operator", {3})])
def test_authorization_matrix_over_every_route(client, keys, role, visible):
    token = keys[role]
    for p in (1, 2, 3, 4):
        assert get(client, f"/api/pitchers/{p}/readiness", token).status_code == (200 if p in visible else 404)
    assert {p["pitcher_id"] for p in get(client, "/api/pitchers", token).json()["pitchers"]} == visible
    assert {a["pitcher_id"] for a in get(client, "/api/alerts", token).json()["alerts"]} == visible & {3}
    with client.websocket_connect("/api/live") as ws:
        ws.send_text(json.dumps({"type": "auth", "token": token}))
        assert {p["pitcher_id"] for p in ws.receive_json()["pitchers"]} == visible


def test_missing_bad_expired_and_revoked_keys_are_401(client, keys, api_settings):
    assert get(client, "/api/pitchers", None).status_code == 401
    assert "X-API-Key" in get(client, "/api/pitchers", None).json()["detail"]
    assert get(client, "/api/pitchers", "rk_00000000.nope").status_code == 401
    assert get(client, "/api/pitchers", "garbage").status_code == 401
    key_id = keys["viewer"].split(".")[0]
    with psycopg.connect(api_settings.database_url, autocommit=True) as conn:
        conn.execute("update api_keys set expires_at = now() - interval '1 minute' where key_id = %s", (key_id,))
    client.app.state.services.keys.forget()
    assert get(client, "/api/pitchers", keys["viewer"]).status_code == 401
    client.app.state.services.keys.revoke(keys["operator"].split(".")[0])
    assert get(client, "/api/pitchers", keys["operator"]).status_code == 401


def test_bad_input_is_a_4xx_with_a_message(client, keys):
    r = get(client, "/api/pitchers/abc/readiness", keys["admin"])
    assert r.status_code == 422 and "pitcher_id" in r.json()["detail"]
    assert get(client, "/api/pitchers/-5/readiness", keys["admin"]).status_code == 422
    r = client.post("/api/calibration/bad id!/recalibrate", headers={"X-API-Key": keys["admin"]})
    assert r.status_code == 422 and "system_id" in r.json()["detail"]


def test_rate_limit_per_key_answers_429_with_retry_after(api_settings, keys):
    with TestClient(create_app(api_settings.model_copy(update={"rate_limit_per_second": 3}))) as c:
        codes = [get(c, "/api/pitchers/1/readiness", keys["viewer"]).status_code for _ in range(12)]
        assert codes.count(429) >= 1 and codes[0] == 200
        limited = get(c, "/api/pitchers/1/readiness", keys["viewer"])
        if limited.status_code == 429:
            assert int(limited.headers["Retry-After"]) >= 1
        assert get(c, "/api/pitchers/1/readiness", keys["admin"]).status_code == 200  # another key's budget


def test_the_loads_check_reads_through_the_rate_limit_and_counts_nothing_served_as_none(api_settings, keys):
    """readiness load reads every measured pitcher at once, past the limit: a 429 is read again after its
    Retry-After (it once counted as a served value that differed from gold)."""
    from readiness_platform.load import _served

    app = create_app(api_settings.model_copy(update={"rate_limit_per_second": 3}))
    with TestClient(app, headers={"X-API-Key": keys["viewer"]}) as c:
        bodies = [_served(c, 1) for _ in range(5)]  # the budget is 3 a second: two waits
        served = {(b["pitcher_id"], b["features"]["pitch_number"], b["indices"]["readiness"]) for b in bodies}
        assert served == {(1, 4, 80.0 - 3 - 1)}  # his newest row (pitch 3 of the fixture: 1, 4), every time
        assert _served(c, 99) is None  # no readiness for him: a 404


def test_every_data_access_is_audited_without_secrets(client, keys):
    get(client, "/api/pitchers/1/readiness", keys["viewer"])
    get(client, "/api/pitchers/3/readiness", keys["viewer"])
    get(client, "/api/pitchers", "rk_00000000.wrong")
    audit = client.app.state.services.audit
    audit.flush()
    rows = audit.recent(10)
    seen = {(r.route, r.pitcher_id, r.outcome, r.status) for r in rows}
    assert ("/api/pitchers/{pitcher_id}/readiness", 1, "ok", 200) in seen
    assert ("/api/pitchers/{pitcher_id}/readiness", 3, "not_found", 404) in seen
    assert ("/api/pitchers", None, "invalid_key", 401) in seen
    viewer_id = keys["viewer"].split(".")[0]
    assert {r.key_id for r in rows if r.pitcher_id == 1} == {viewer_id}
    dumped = repr(rows)
    assert all(k.split(".")[1] not in dumped for k in keys.values())


def test_the_active_version_is_served_after_a_cutover(client, keys, api_settings):
    with psycopg.connect(api_settings.database_url, autocommit=True) as conn:
        deployments.switch(conn, "v2", action="cutover", decided_by="test", reason="gates passed", evidence={})
    client.app.state.services.versions.decision.ttl_s = 0
    body = get(client, "/api/pitchers/1/readiness", keys["viewer"]).json()
    assert body["model_version"] == "v2" and body["indices"]["readiness"] == 81.0


def test_websocket_pushes_one_message_a_write_with_the_granted_pitchers_only(client, keys, api_settings):
    with client.websocket_connect("/api/live") as viewer, client.websocket_connect("/api/live") as admin:
        for ws, key in ((viewer, "viewer"), (admin, "admin")):
            ws.send_text(json.dumps({"type": "auth", "token": keys[key]}))
            assert ws.receive_json()["type"] == "snapshot"
        write_online(api_settings, [scored_row(3, "v1", 4, 10.0), scored_row(1, "v1", 4, 55.5, final=False),
                                    scored_row(2, "v1", 4, 33.0)],
                     redis.Redis.from_url(REDIS_DB), source="stream-q1/41")
        seen = viewer.receive_json()
        assert seen["type"] == "updates" and seen["source"] == "stream-q1/41"  # the micro-batch it came from
        assert [(p["pitcher_id"], p["indices"]["readiness"]) for p in seen["pitchers"]] == [(1, 55.5), (2, 33.0)]
        assert seen["pitchers"][0]["freshness"]["is_final"] is False
        everyone = admin.receive_json()
        assert [p["pitcher_id"] for p in everyone["pitchers"]] == [1, 2, 3]
        assert everyone["written_at"] == seen["written_at"]


def test_a_websocket_client_too_far_behind_is_closed_4008_to_resync(client, keys):
    from starlette.websockets import WebSocketDisconnect

    from api.routes import live

    with client.websocket_connect("/api/live") as ws:
        ws.send_text(json.dumps({"type": "auth", "token": keys["admin"]}))
        assert ws.receive_json()["type"] == "snapshot"
        (slow,) = client.app.state.broadcaster.clients

        def flood() -> None:  # in the server's event loop: more messages than a client may have waiting
            for n in range(live.MAX_QUEUED + 1):
                live._offer(slow, json.dumps({"type": "updates", "n": n, "pitchers": []}), 1)

        client.portal.call(flood)
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                assert ws.receive_json()["type"] == "updates"
    assert closed.value.code == 4008


def test_websocket_without_a_valid_key_is_closed_4401(client):
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/api/live") as ws:
        ws.send_text(json.dumps({"type": "auth", "token": "rk_00000000.wrong"}))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401


def test_recalibration_needs_the_operator_role_and_an_existing_system(client, keys):
    r = client.post("/api/calibration/hawkeye-ATL/recalibrate", headers={"X-API-Key": keys["viewer"]})
    assert r.status_code == 403 and "operator" in r.json()["detail"]
    r = client.post("/api/calibration/hawkeye-ATL/recalibrate", headers={"X-API-Key": keys["operator"]})
    assert r.status_code == 404 and "hawkeye-ATL" in r.json()["detail"]  # no system has reported in this lakehouse


def test_health_readiness_and_metrics(client, keys):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    get(client, "/api/pitchers/1/readiness", keys["viewer"])
    text = client.get("/metrics").text
    assert 'readiness_api_requests_total{route="/api/pitchers/{pitcher_id}/readiness",status="200"}' in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_down_is_a_503_with_retry_after_and_the_api_recovers_by_itself(api_settings, keys, tmp_path):
    port = _free_port()
    def start() -> subprocess.Popen:  # noqa: E306 - a Redis of this test's own, stopped and started again
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
        for _ in range(50):
            try:
                redis.Redis(port=port).ping()
                return proc
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")
    proc = start()
    settings = api_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    write_online(api_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"}),
                 [scored_row(1, "v1", 1, 70.0)], redis.Redis(port=port))
    try:
        with TestClient(create_app(settings)) as c:
            assert get(c, "/api/pitchers/1/readiness", keys["viewer"]).status_code == 200
            proc.terminate()
            proc.wait()
            down = get(c, "/api/pitchers/1/readiness", keys["viewer"])
            assert down.status_code == 503 and down.headers["Retry-After"] == "5"
            assert "Redis" in down.json()["detail"]
            assert c.get("/readyz").status_code == 503
            proc = start()
            write_online(settings, [scored_row(1, "v1", 2, 69.0)], redis.Redis(port=port))
            back = get(c, "/api/pitchers/1/readiness", keys["viewer"])
            assert back.status_code == 200 and back.json()["indices"]["readiness"] == 69.0
    finally:
        proc.terminate()


def test_a_stalled_feed_turns_pitchers_stale_and_a_revoked_key_is_closed_without_any_update(
        api_settings, keys, monkeypatch):
    from starlette.websockets import WebSocketDisconnect

    from api.routes import live

    monkeypatch.setattr(live, "HEARTBEAT_S", 0.3)
    with TestClient(create_app(api_settings.model_copy(update={"stale_after_seconds": 0.5}))) as c:
        with c.websocket_connect("/api/live") as ws:
            ws.send_text(json.dumps({"type": "auth", "token": keys["viewer"]}))
            assert ws.receive_json()["type"] == "snapshot"
            beats = [m for m in (ws.receive_json() for _ in range(8)) if m["type"] == "heartbeat"]
            fresh = [b["stale"] for b in beats if b["feed_lag_s"] < 0.4]
            late = [b["stale"] for b in beats if b["feed_lag_s"] > 0.6]
            assert late and all(s == {"1": True, "2": True} for s in late)  # nothing written for too long
            assert all(s == {"1": False, "2": False} for s in fresh)
            c.app.state.services.keys.revoke(keys["viewer"].split(".")[0])
            with pytest.raises(WebSocketDisconnect) as closed:
                for _ in range(20):
                    ws.receive_json()
            assert closed.value.code == 4401


def test_the_api_serves_the_mlflow_champion_and_follows_its_alias_without_a_restart(api_settings, keys, scored):
    from readiness_platform.model_registry import CHAMPION, Registry, example_inputs

    settings = api_settings.model_copy(update={"model_alias_ttl_seconds": 0.05})
    registry = Registry(settings)
    inputs = example_inputs(scored[scored["model_version"] == "v1"])
    v1, v2 = (registry.register(v, {"coverage": 1.0}, inputs, by="test", reason="test") for v in ("v1", "v2"))
    registry.promote(v2.version, CHAMPION, by="test", reason="test")
    with TestClient(create_app(settings)) as c:
        body = get(c, "/api/pitchers/1/readiness", keys["viewer"]).json()
        assert (body["model_version"], body["registered_model"]) == ("v2", f"{registry.name}/{v2.version}")
        assert c.get("/readyz").json()["champion"] == f"{registry.name} version {v2.version} (v2)"
        registry.promote(v1.version, CHAMPION, by="test", reason="rollback")
        deadline = time.monotonic() + 10
        while get(c, "/api/pitchers/1/readiness", keys["viewer"]).json()["model_version"] != "v1":
            assert time.monotonic() < deadline, "the API did not follow the alias"
            time.sleep(0.05)
        body = get(c, "/api/pitchers/1/readiness", keys["viewer"]).json()
        assert body["indices"]["readiness"] == 76.0 and body["registered_model"] == f"{registry.name}/{v1.version}"


def test_calibration_is_read_from_bronze_and_a_recalibration_run_lands_in_the_feed(client, keys, api_settings):
    from readiness_platform.domain.events import FEED_EVENT
    from tests.defs.test_calibration import _bronze, _expected_confidence

    _bronze(api_settings, minutes=60)  # busch_iii calibrated an hour ago (feed time) under a 10 mph wind
    r = get(client, "/api/calibration/busch_iii", keys["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["confidence"] == pytest.approx(_expected_confidence(60), abs=1e-9) and body["recalibration_needed"]
    assert get(client, "/api/calibration/nowhere", keys["viewer"]).status_code == 404

    r = client.post("/api/calibration/busch_iii/recalibrate", headers={"X-API-Key": keys["operator"]},
                    json={"reason": "cameras bumped"})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    deadline = time.monotonic() + 60
    while not list(api_settings.landing.glob("*.jsonl")):
        assert time.monotonic() < deadline, "the recalibration run wrote nothing"
        time.sleep(0.2)
    event = FEED_EVENT.validate_python(json.loads(next(api_settings.landing.glob("*.jsonl")).read_text()))
    assert (event.kind, event.tracking_system_id, event.trigger) == ("calibration", "busch_iii", "manual")
    assert run_id in event.reason and "cameras bumped" in event.reason and keys["operator"].split(".")[0] in event.reason
