"""The dashboard end to end: the real app under uvicorn, real pitches replayed into Redis, Chromium watching.

The pitches are the real Statcast pitches of one game of 2020-09-03 (Andrew Heaney against Mike Clevinger),
scored by both model versions with the back-test's scoring (the stream's functions). Most of the game is
written before the page opens (the snapshot and its sparklines), the rest one pitch every 150 ms while the
page is open, as the stream would push them.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg
import pytest
import redis
from fastapi import FastAPI

from api.keys import KeyStore
from api.main import create_app
from readiness_platform import deployments
from readiness_platform.feature_store import apply_repo, write_online
from readiness_platform.settings import REPO_ROOT, Settings, get_settings
from tests.browser import open_browser, save_screenshot

pytestmark = [pytest.mark.services, pytest.mark.slow]

REDIS_DB = "redis://127.0.0.1:56379/10"
GAME_DAY, GAME_PK = date(2020, 9, 3), 631368  # SD at LAA: Heaney (critical late on) against Clevinger
PREFILL = 130          # pitches written before the page opens
INTERVAL_S = 0.15      # one pitch every 150 ms afterwards
SCREENSHOT = REPO_ROOT / "var" / "reports" / "dashboard.png"
TIMEOUT_S = 30.0

CARD_STATE = """id => {
  const c = document.querySelector(`[data-pitcher="${id}"]`);
  if (!c) return null;
  const f = n => c.querySelector(`[data-field="${n}"]`).textContent.trim();
  const spark = c.querySelector('[data-spark="readiness"]');
  return {updates: Number(c.dataset.updates), alert: c.dataset.alert, stale: c.dataset.stale,
          readiness: f("readiness"), pitch_count: f("pitch_count"), points: Number(spark.dataset.points),
          path: spark.querySelector("path").getAttribute("d").length};
}"""


def _plain(value: object) -> object:
    """A pandas/numpy value as the plain Python value the stream hands to write_online."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (np.ndarray, list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@pytest.fixture(scope="module")
def game() -> dict:
    """The game's two starters and their pitches in event-time order, each pitch as its rows of every model
    version (whole-season baselines: the game day is the corpus's only day of 2020, walk-forward has none)."""
    from readiness_platform.backtest import backtest_rows
    from readiness_platform.domain.scores import MODEL_VERSIONS

    frame = backtest_rows(get_settings().statcast_dir, baselines_from="season")
    rows = frame[(frame["game_pk"] == GAME_PK) & (frame["game_date"] == GAME_DAY)].sort_values(
        ["event_time", "model_version"])
    assert not rows.empty, f"game {GAME_PK} of {GAME_DAY} is not in the Statcast corpus"
    starters = list(dict.fromkeys(rows["pitcher_id"].tolist()))[:2]  # the first pitcher of each half inning
    pitches: dict[tuple, list[dict]] = {}
    for record in rows[rows["pitcher_id"].isin(starters)].to_dict("records"):
        row = {k: _plain(v) for k, v in record.items()}
        pitches.setdefault((row["event_time"], row["pitcher_id"], row["at_bat_number"], row["pitch_number"]),
                           []).append(row)
    ordered = [pitches[k] for k in sorted(pitches)]
    assert all({r["model_version"] for r in p} == set(MODEL_VERSIONS) for p in ordered)
    return {"starters": [int(s) for s in starters], "pitches": ordered}


def _v1(pitch: list[dict]) -> dict:
    return next(r for r in pitch if r["model_version"] == "v1")


@pytest.fixture
def online_db() -> Iterator[redis.Redis]:
    """This module's Redis database, empty before and after."""
    client = redis.Redis.from_url(REDIS_DB, socket_timeout=5)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _settings(tmp_path: Path, pg_url: str, stale_after_s: float) -> Settings:
    settings = get_settings(home=tmp_path, feast_env="production", redis_url=REDIS_DB, database_url=pg_url,
                            rate_limit_per_second=1000, stale_after_seconds=stale_after_s)
    apply_repo(settings)
    return settings


@contextmanager
def serving(settings: Settings, port: int = 0, app: FastAPI | None = None) -> Iterator[str]:
    """The app under a real uvicorn on 127.0.0.1 (a free port by default), in a background thread; its URL."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart on the same port
    sock.bind(("127.0.0.1", port))  # bound here and handed over: no race for a free port
    port = sock.getsockname()[1]
    config = uvicorn.Config(app or create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="dashboard-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting (see the log above)"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class Replay(threading.Thread):
    """Writes one pitch every `interval_s`, as the stream would; waits at `gate_at` until `gate` is set."""

    def __init__(self, settings: Settings, pitches: list[list[dict]], interval_s: float, gate_at: int) -> None:
        super().__init__(name="dashboard-replay", daemon=True)
        self.settings, self.pitches, self.interval_s, self.gate_at = settings, pitches, interval_s, gate_at
        self.gate, self.stop = threading.Event(), threading.Event()
        self.written, self.error = 0, None

    def run(self) -> None:
        client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=5)
        try:
            for i, pitch in enumerate(self.pitches):
                if i == self.gate_at and not self.gate.wait(TIMEOUT_S):
                    raise TimeoutError("the replay was never let through its gate")
                if self.stop.wait(self.interval_s):
                    return
                write_online(self.settings, pitch, client)
                self.written += 1
        except BaseException as e:  # noqa: BLE001 - handed to the test, which raises it
            self.error = e
        finally:
            client.close()


def _login(page, base_url: str, token: str) -> None:  # noqa: ANN001
    page.goto(base_url + "/")
    page.fill("#api-key", token)
    page.click("#login button[type=submit]")


def _cards(page) -> list[int]:  # noqa: ANN001
    return page.eval_on_selector_all("[data-pitcher]", "cs => cs.map(c => Number(c.dataset.pitcher))")


def _shows(state: dict, row: dict) -> bool:
    return (state["pitch_count"] == str(row["pitch_count_game"]) and state["alert"] == row["alert_level"]
            and abs(float(state["readiness"]) - row["readiness"]) <= 0.051)


def test_dashboard_follows_a_replayed_game_live_and_shows_a_viewer_only_its_pitcher(tmp_path, pg_url, game,
                                                                                   online_db):
    settings = _settings(tmp_path, pg_url, stale_after_s=3600 * 24 * 365 * 20)
    starters, pitches = game["starters"], game["pitches"]
    heaney = starters[0]  # he opens and closes the game
    final = {p: _v1([q for q in pitches if q[0]["pitcher_id"] == p][-1]) for p in starters}
    per_pitcher = {p: sum(q[0]["pitcher_id"] == p for q in pitches) for p in starters}
    replayed = pitches[PREFILL:]
    assert {q[0]["pitcher_id"] for q in replayed} == set(starters)
    # the viewer is granted the pitcher who closes the game: hold his last run of pitches until it watches
    gate_at = max(i for i, q in enumerate(replayed) if q[0]["pitcher_id"] != heaney) + 1
    with KeyStore(pg_url) as store:
        store.ensure_schema()
        admin = store.issue("ops", "admin").token
        viewer = store.issue("bullpen coach", "viewer", pitchers=[heaney]).token
    for pitch in pitches[:PREFILL]:
        write_online(settings, pitch, online_db)

    replay = Replay(settings, replayed, INTERVAL_S, gate_at)
    with serving(settings) as base_url, open_browser(timeout_s=TIMEOUT_S) as page:
        try:
            _login(page, base_url, admin)
            page.wait_for_function("n => document.querySelectorAll('[data-pitcher]').length === n", arg=2)
            assert admin not in page.url
            assert sorted(_cards(page)) == sorted(starters)
            assert page.text_content("#model-version") == "v1"
            watched = replayed[0][0]["pitcher_id"]
            before = page.evaluate(CARD_STATE, watched)
            assert abs(float(before["readiness"]) - final[watched]["readiness"]) > 0.1  # so the change is visible
            assert before["points"] == sum(q[0]["pitcher_id"] == watched for q in pitches[:PREFILL])

            replay.start()
            page.wait_for_function(
                f"([id, b]) => {{ const s = ({CARD_STATE})(id); return s.updates >= 6 && "
                "s.pitch_count !== b.pitch_count && s.points > b.points && s.path > b.path; }",
                arg=[watched, before])

            coach = page.context.new_page()  # its own sessionStorage: the coach's key, not the admin's
            _login(coach, base_url, viewer)
            coach.wait_for_selector(f'[data-pitcher="{heaney}"]')
            assert _cards(coach) == [heaney]
            replay.gate.set()

            replay.join(timeout=TIMEOUT_S + len(replayed) * INTERVAL_S)
            assert not replay.is_alive(), f"the replay is stuck after {replay.written} pitches"
            if replay.error:
                raise replay.error
            for p in starters:  # every card ends on its pitcher's last pitch, with every update counted
                page.wait_for_function(
                    f"([id, n]) => ({CARD_STATE})(id).pitch_count === String(n)",
                    arg=[p, final[p]["pitch_count_game"]])
                state = page.evaluate(CARD_STATE, p)
                assert _shows(state, final[p]), (state, final[p])
                # at least one update per pitch written: the channel is shared by every Redis database, so
                # another process's writes also ping this app, which re-sends the same values
                assert state["updates"] >= sum(q[0]["pitcher_id"] == p for q in replayed)
            assert page.evaluate(CARD_STATE, watched)["readiness"] != before["readiness"]

            coach.wait_for_function(f"([id, n]) => ({CARD_STATE})(id).pitch_count === String(n)",
                                    arg=[heaney, final[heaney]["pitch_count_game"]])
            assert coach.evaluate(CARD_STATE, heaney)["updates"] >= 1
            assert _cards(coach) == [heaney]  # Clevinger's pitches went by without a card for him
            assert coach.text_content("#pitcher-count") == "1"

            # a reload keeps the key of the tab (no form) and rebuilds every sparkline from the snapshot
            page.reload()
            page.wait_for_function("n => document.querySelectorAll('[data-pitcher]').length === n", arg=2)
            assert page.is_hidden("#login")
            for p in starters:
                state = page.evaluate(CARD_STATE, p)
                assert _shows(state, final[p]) and state["points"] == per_pitcher[p], (state, per_pitcher[p])
            assert page.get_attribute(f'[data-pitcher="{heaney}"]', "data-alert") == final[heaney]["alert_level"]
            page.wait_for_timeout(500)  # let the last highlight fade before the picture
            shot = save_screenshot(page, SCREENSHOT)
            assert shot.exists() and shot.stat().st_size > 10_000
        finally:
            replay.stop.set()
            replay.gate.set()


def test_dashboard_rejects_a_bad_key_shows_critical_stale_and_provisional_cards_and_reconnects(
        tmp_path, pg_url, game, online_db):
    settings = _settings(tmp_path, pg_url, stale_after_s=600)
    heaney, clevinger = game["starters"]
    critical = next(q for q in game["pitches"]
                    if _v1(q)["pitcher_id"] == heaney and _v1(q)["alert_level"] == "critical")
    first = next(q for q in game["pitches"] if q[0]["pitcher_id"] == clevinger)
    after = game["pitches"][game["pitches"].index(critical) + 1]
    assert after[0]["pitcher_id"] == heaney
    # Clevinger's first pitch trails Heaney's critical one by 1 h 50 min (beyond the 10-minute limit: stale)
    # and arrives provisional, as the stream sends a pitch whose window is still open
    write_online(settings, [{**r, "is_final": False} for r in first], online_db)
    write_online(settings, critical, online_db)
    with KeyStore(pg_url) as store:
        store.ensure_schema()
        admin = store.issue("ops", "admin").token

    with open_browser(timeout_s=TIMEOUT_S) as page:
        with serving(settings) as base_url:
            _login(page, base_url, "rk_00000000.not-a-key")
            page.wait_for_selector("#login-error", state="visible")
            assert "rejected" in page.text_content("#login-error").lower()
            assert page.get_attribute("#conn", "data-state") == "rejected"
            assert page.is_visible("#api-key")
            assert page.evaluate("sessionStorage.length") == 0 and page.evaluate("localStorage.length") == 0

            _login(page, base_url, admin)
            page.wait_for_function("n => document.querySelectorAll('[data-pitcher]').length === n", arg=2)
            assert admin not in page.url and page.evaluate("localStorage.length") == 0
            hot, old = f'[data-pitcher="{heaney}"]', f'[data-pitcher="{clevinger}"]'
            assert page.get_attribute(hot, "data-alert") == "critical"
            assert page.text_content(f'{hot} [data-field="alert_level"]').strip().lower() == "critical"
            assert page.get_attribute(f'{hot} [data-field="readiness"]', "data-band") == "critical"
            assert page.is_hidden(f'{hot} [data-field="stale"]') and page.is_hidden(f'{hot} [data-field="provisional"]')
            assert page.get_attribute(old, "data-stale") == "true" and page.is_visible(f'{old} [data-field="stale"]')
            assert page.is_visible(f'{old} [data-field="provisional"]')
            assert page.text_content(f'{old} [data-field="data_age"]').strip() == "1.8 h"
            save_screenshot(page, tmp_path / "dashboard-states.png")

            port = int(base_url.rsplit(":", 1)[1])

        # the API goes away and comes back on the same port: the page retries by itself, with the tab's key
        page.wait_for_function("document.getElementById('conn').dataset.state === 'reconnecting'")
        assert page.is_hidden("#login")
        app = create_app(settings)
        with serving(settings, port=port, app=app):
            page.wait_for_function("document.getElementById('conn').dataset.state === 'live'")
            assert sorted(_cards(page)) == sorted([heaney, clevinger])
            assert page.is_hidden("#login")

            # a cutover to v2: the page starts again from a v2 snapshot
            with psycopg.connect(pg_url, autocommit=True) as conn:
                deployments.switch(conn, "v2", action="cutover", decided_by="test", reason="gates passed", evidence={})
            app.state.services.versions.decision.ttl_s = 0
            write_online(settings, after, online_db)
            page.wait_for_function("document.getElementById('model-version').textContent === 'v2'")
            page.wait_for_function("document.getElementById('conn').dataset.state === 'live'")
            assert page.get_attribute(hot, "data-model-version") == "v2"
            v2 = next(r for r in after if r["model_version"] == "v2")
            assert _shows(page.evaluate(CARD_STATE, heaney), v2)
