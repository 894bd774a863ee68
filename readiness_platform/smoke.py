"""The closer's smoke test - the staff calls it "the Helsley test" - through the whole platform.

    readiness smoke [--speedup 60]        (READINESS_STREAM_SOURCE=kafka to feed it through Kafka)

No Cardinals outing is public (../shared/data/statcast/README.md), so it replays a real closer's: Jeurys
Familia's three straight days of 2016-07-26..28 (17, 26 and 26 pitches; a back-to-back, then a third
straight day), with the ballpark's lag model, through the feed source of the settings, the stream, the
online store and the read API (served in this process, read over HTTP and the WebSocket as the dashboard
reads it). It checks, and fails loudly otherwise, that
  - readiness is served for every pitch that reached the stream in time (the outing's points), and each
    final one equals silver `pitch_features` for the served model;
  - every served pitch, and every readiness the WebSocket pushed, carries the alert level the staff's
    thresholds give for the values it shows: the pitcher's alert from readiness (< 80 warning, < 60
    critical) and velocity (< -2.0 mph), the data-quality flag beside it from calibration (< 0.8, < 0.6)
    and late fraction (> 0.2, > 0.3);
  - calibration confidence decays pitch by pitch through each outing and is reset by the next game's
    pre-game calibration.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from readiness_platform.domain.errors import ReadinessError
from readiness_platform.replay.feed import feed_items
from readiness_platform.replay.lag import LagModel, plan_deliveries
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import FeedSink, LandingFolderSink
from readiness_platform.replay.statcast import load_pitches
from readiness_platform.settings import Settings

CLOSER_FILE = "familia_2016__jamescastro98.csv"
CLOSER_ID = 544727
STRETCH = (date(2016, 7, 26), date(2016, 7, 27), date(2016, 7, 28))


class SmokeFailed(ReadinessError):
    def __init__(self, failures: list[str]) -> None:
        super().__init__("the closer's smoke test failed:\n  - " + "\n  - ".join(failures))
        self.failures = failures


def staff_levels(readiness: float, velo_delta: float | None) -> set[str]:
    """The pitcher alert levels the staff's thresholds allow for what is served: readiness's own level, or a
    warning when the velocity delta is below -2.0 mph and readiness is fine (a velocity warning also needs a
    full 5-fastball window past the game's first 10 pitches, which is not served with the point: either)."""
    level = "critical" if readiness < 60 else "warning" if readiness < 80 else "ok"
    if level == "ok" and velo_delta is not None and velo_delta < -2.0:
        return {"ok", "warning"}
    return {level}


def staff_quality(calibration: float, late_fraction: float | None) -> str:
    """The data-quality level the staff's thresholds give (feature QA is not served)."""
    late = late_fraction or 0.0
    if calibration < 0.6 or late > 0.3:
        return "critical"
    if calibration < 0.8 or late > 0.2:
        return "warning"
    return "ok"


@dataclass
class Outing:
    game_date: date
    game_pk: int
    pitches: int  # thrown
    in_time: int  # planned to reach the stream before the watermark, undamaged (a late one may still make it)
    served: int = 0  # of those, with a readiness in the outing's points
    final_checked: int = 0  # final points compared with silver
    calibration: list[float] = field(default_factory=list)  # served, in event-time order
    levels: Counter = field(default_factory=Counter)


@dataclass
class SmokeReport:
    source: str
    model_version: str
    outings: list[Outing]
    pushes: int
    failures: list[str]

    def lines(self) -> list[str]:
        out = [f"smoke: Familia {', '.join(str(o.game_date) for o in self.outings)} through the {self.source} "
               f"source; model {self.model_version}; {self.pushes} WebSocket updates"]
        for o in self.outings:
            cal = (f"calibration {o.calibration[0]:.3f} -> {o.calibration[-1]:.3f}" if o.calibration else "no calibration")
            out.append(f"smoke: {o.game_date} game {o.game_pk}: {o.pitches} pitches, {o.in_time} in time, "
                       f"{o.served} served, {o.final_checked} final = silver; alerts {dict(o.levels)}; {cal}")
        out.append("smoke: PASSED" if not self.failures else f"smoke: FAILED ({len(self.failures)} checks)")
        return out


def feed_sink(settings: Settings) -> FeedSink:
    """The replay's sink for the stream source of the settings."""
    if settings.stream_source == "kafka":
        from readiness_platform.replay.sinks import KafkaSink

        return KafkaSink(settings)
    return LandingFolderSink(settings.landing)


class LiveRecorder:
    """A dashboard's WebSocket, recording every readiness pushed for the closer."""

    def __init__(self, base_url: str, token: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(base_url.replace("http://", "ws://") + "/api/live", open_timeout=10)
        self.ws.send(json.dumps({"type": "auth", "token": token}))
        snapshot = json.loads(self.ws.recv(timeout=10))
        if snapshot.get("type") != "snapshot":
            raise ReadinessError(f"smoke: the WebSocket answered {snapshot} instead of a snapshot")
        self.bodies: list[dict] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "updates":
                    self.bodies.extend(p for p in message["pitchers"] if p["pitcher_id"] == CLOSER_ID)
        except ConnectionClosed:
            pass

    def close(self) -> None:
        self.ws.close()
        self._thread.join(timeout=10)


def _fresh(settings: Settings) -> None:
    from readiness_platform.demo import reset_announcements

    for path in (settings.landing, Path(f"{settings.landing}.archive"), Path(settings.tables.root),
                 Path(settings.checkpoints), settings.feast_dir):
        shutil.rmtree(path, ignore_errors=True)
    reset_announcements(settings)


def _plan(settings: Settings, seed: int) -> dict[date, list]:
    pitches = [p for p in load_pitches([settings.statcast_dir / CLOSER_FILE], seed=seed) if p.game_date in STRETCH]
    lag = LagModel(seed=seed, watermark_delay_s=settings.watermark_delay_seconds)
    return {d: plan_deliveries(feed_items([p for p in pitches if p.game_date == d], seed=seed), lag) for d in STRETCH}


def _in_time(plan: list) -> tuple[int, set[tuple[int, int, int]]]:
    """(pitches thrown, keys of those with an undamaged delivery before the watermark)."""
    thrown, ok = set(), set()
    for d in plan:
        if d.kind != "pitch":
            continue
        try:
            record = json.loads(d.payload)
            key = (record["game_pk"], record["at_bat_number"], record["pitch_number"])
        except (ValueError, KeyError, TypeError):
            continue
        thrown.add(key)
        if not d.late and not d.corruption:
            ok.add(key)
    return len(thrown), ok


def run_smoke(settings: Settings, speedup: float = 60.0, seed: int = 7, fresh: bool = True) -> SmokeReport:
    """Replay the stretch outing by outing, read what is served, check it; SmokeFailed if anything is off."""
    import dagster as dg
    import httpx

    from readiness_platform.defs.baselines.assets import seasonal_baselines
    from readiness_platform.demo import _check, _dagster_instance, api_server
    from readiness_platform.resources import local_resources
    from readiness_platform.spark import build_spark
    from spark_jobs.stream.main import start_stream

    if fresh:
        _fresh(settings)
    plans = _plan(settings, seed)
    print(f"smoke: Familia's {len(STRETCH)} straight days, {sum(len(p) for p in plans.values())} messages; "
          "starting Spark", flush=True)
    spark = build_spark(settings, "readiness-smoke")
    _check(dg.materialize([seasonal_baselines], partition_key="2016", instance=_dagster_instance(settings),
                          resources=local_resources(settings)), "seasonal_baselines 2016")
    failures: list[str] = []
    outings: list[Outing] = []
    sink = feed_sink(settings)
    query = start_stream(spark, settings)
    try:
        with api_server(settings, owner="smoke") as (base_url, token), \
                httpx.Client(base_url=base_url, headers={"X-API-Key": token}, timeout=10) as http:
            live = LiveRecorder(base_url, token)
            for day, plan in plans.items():
                thrown, in_time = _in_time(plan)
                play(plan, sink, speedup=speedup, log=lambda _: None)
                query.processAllAvailable()
                time.sleep(0.5)  # the WebSocket's fan-out of the last batch
                body = http.get(f"/api/pitchers/{CLOSER_ID}/readiness", params={"outing": "true"}).raise_for_status().json()
                game_pk = body["features"]["game_pk"]
                served = {(game_pk, *p["pitch"]) for p in body["outing"] if p["readiness"] is not None}
                missing = sorted(in_time - served)
                if missing:
                    failures.append(f"{day}: no readiness served for {len(missing)} pitches in time, e.g. {missing[:3]}")
                outing = Outing(day, game_pk, thrown, len(in_time), len(in_time & served))
                outing.final_checked = _compare_with_silver(settings, body, failures)
                _check_outing(outing, [p for p in body["outing"] if p["readiness"] is not None], failures)
                outings.append(outing)
                print(f"smoke: {day}: {outing.served}/{outing.in_time} pitches in time served", flush=True)
            live.close()
            model_version = body["model_version"]
    finally:
        query.stop()
        sink.close()
    _check_pushes(live.bodies, outings, failures)
    report = SmokeReport(settings.stream_source, model_version, outings, len(live.bodies), failures)
    for line in report.lines():
        print(line, flush=True)
    if failures:
        raise SmokeFailed(failures)
    return report


def _compare_with_silver(settings: Settings, body: dict, failures: list[str]) -> int:
    """Each final point of the served outing equals its silver row under the served model version."""
    from deltalake import DeltaTable

    silver = DeltaTable(settings.tables.pitch_features).to_pyarrow_table(
        columns=["game_pk", "at_bat_number", "pitch_number", "model_version", "readiness"]).to_pylist()
    want = {(r["game_pk"], r["at_bat_number"], r["pitch_number"]): r["readiness"]
            for r in silver if r["model_version"] == body["model_version"]}
    checked = 0
    for p in body["outing"]:
        key = (body["features"]["game_pk"], *p["pitch"])
        if p["final"]:
            checked += 1
            if key not in want or abs(want[key] - p["readiness"]) > 1e-9:
                failures.append(f"served final readiness of {key} is {p['readiness']}, silver has {want.get(key)}")
    return checked


def _check_outing(outing: Outing, points: list[dict], failures: list[str]) -> None:
    """Every served pitch: the alert level the staff's thresholds give; calibration decaying pitch by pitch."""
    for p in points:
        want = staff_levels(p["readiness"], p["velo_delta_mph"])
        outing.levels[p["alert"]] += 1
        if p["alert"] not in want:
            failures.append(f"{outing.game_date} pitch {p['pitch']}: alert {p['alert']}, the thresholds say "
                            f"{' or '.join(sorted(want))}")
    c = outing.calibration = [p["calibration"] for p in points]
    if len(c) < 2 or any(b > a + 1e-12 for a, b in zip(c, c[1:])) or not c[-1] < c[0]:
        failures.append(f"{outing.game_date}: calibration confidence does not decay through the outing: {c}")


def _check_pushes(bodies: list[dict], outings: list[Outing], failures: list[str]) -> None:
    """What the dashboard was pushed: every outing, each with the level the thresholds give; calibration
    reset by each game's pre-game calibration."""
    games = {o.game_pk for o in outings}
    pushed = {b["features"]["game_pk"] for b in bodies}
    if not games <= pushed:
        failures.append(f"the WebSocket pushed nothing for games {sorted(games - pushed)}")
    for b in bodies:
        f = b["features"]
        want = staff_levels(b["indices"]["readiness"], f.get("velo_delta_mph"))
        quality = staff_quality(b["calibration_confidence"], f.get("late_fraction"))
        if b["alert_level"] not in want or b["data_quality"] != quality:
            failures.append(f"pushed pitch {f['game_pk']}/{f['at_bat_number']}/{f['pitch_number']}: alert "
                            f"{b['alert_level']} and data quality {b['data_quality']}, the thresholds say "
                            f"{' or '.join(sorted(want))} and {quality} ({b['alert_reasons']}, "
                            f"{b['data_quality_reasons']})")
    for before, after in zip(outings, outings[1:]):
        if before.calibration and after.calibration and not after.calibration[0] > before.calibration[-1]:
            failures.append(f"{after.game_date}: calibration not reset by the pre-game calibration "
                            f"({before.calibration[-1]:.3f} at the end of {before.game_date}, "
                            f"{after.calibration[0]:.3f} at the start)")
