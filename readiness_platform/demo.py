"""The main job on embedded defaults: a real game day replayed through the platform, start to finish.

    readiness demo            (what `make demo` runs)

It materializes the season's baselines through Dagster (Delta + PostgreSQL), starts the readiness stream
on a local Spark, replays the real Statcast file of 2020-09-03 (8 games, 2,507 pitches) into the landing
folder with the ballpark's lag model, waits until the stream has taken everything in, then runs what the
Dagster daemon would: the sensors (calibration, late data, table observations), the late-data
reprocessing, the quality gates and the v1 -> v2 cutover. The runs are stored in var/dagster, so
`make dagster` shows them. Prints what landed where and writes a report page with the stream's figures.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from readiness_platform.defs.baselines.assets import seasonal_baselines
from readiness_platform.defs.calibration.sensors import calibration_sensor
from readiness_platform.defs.late_data.sensors import late_data_sensor
from readiness_platform.defs.stream.sensors import stream_tables_observer
from readiness_platform.domain.errors import ReadinessError
from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.resources import local_resources
from readiness_platform.settings import Settings

DEMO_FILE = "statcast_2020-09-03_all_games__pybaseball.csv"


def reset_announcements(settings: Settings) -> None:
    """A fresh demo starts with an empty roster (the online store itself is under settings.feast_dir)."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match="readiness:*"):
        client.delete(key)


def _dagster_instance(settings: Settings) -> dg.DagsterInstance:
    from readiness_platform.instance import write_dagster_home

    return dg.DagsterInstance.from_config(str(write_dagster_home(settings)))


def _check(result: dg.ExecuteInProcessResult, what: str) -> dg.ExecuteInProcessResult:
    if not result.success:
        raise ReadinessError(f"demo: the Dagster run of {what} failed (run {result.run_id}); see `make dagster`")
    return result


def _tick_calibration(settings: Settings, instance: dg.DagsterInstance, launched: set[str]) -> dg.SensorResult:
    """One tick of calibration_sensor and a `recalibration` run for each request not launched yet (the
    daemon's run-key rule)."""
    from readiness_platform.defs.calibration.jobs import recalibration

    platform = local_resources(settings)["platform"]
    result = calibration_sensor(dg.build_sensor_context(instance=instance), platform=platform)
    for request in result.run_requests or []:
        if request.run_key in launched:
            continue
        launched.add(request.run_key)
        _check(recalibration.execute_in_process(run_config=request.run_config, tags=request.tags,
                                                instance=instance, resources={"platform": platform}),
               "recalibration")
        print(f"demo: recalibration of {request.tags['tracking_system_id']}: {request.tags['reason']}", flush=True)
    return result


def _calibration_loop(settings: Settings, instance: dg.DagsterInstance, stop: threading.Event,
                      launched: set[str], every_s: float = 5.0) -> None:
    """What the Dagster daemon does during a game: tick calibration_sensor every few seconds, so the
    cameras are recalibrated while the game is on."""
    while not stop.wait(every_s):
        try:
            _tick_calibration(settings, instance, launched)
        except Exception as e:  # noqa: BLE001 - a tick that fails is logged and retried, as the daemon does
            print(f"demo: calibration sensor tick failed: {e}", flush=True)


def orchestrate(settings: Settings, instance: dg.DagsterInstance, launched: set[str]) -> None:
    """One tick of each sensor, the runs they ask for, the quality gates and the cutover, as the
    Dagster daemon would run them (in this process, with the local resources)."""
    from readiness_platform.definitions import build_definitions

    defs = build_definitions(settings)
    resources = local_resources(settings)
    platform = resources["platform"]
    observed = stream_tables_observer(dg.build_sensor_context(instance=instance), platform=platform)
    for event in observed.asset_events:
        instance.report_runless_asset_event(event)
    print("demo: observed " + ", ".join(f"{e.asset_key.path[-1]} {e.metadata['dagster/row_count'].value} rows"
                                        for e in observed.asset_events), flush=True)
    calibration = _tick_calibration(settings, instance, launched)
    print(f"demo: calibration sensor: {len(calibration.run_requests or [])} recalibration runs "
          f"({calibration.skip_reason.skip_message if calibration.skip_reason else 'requested'})", flush=True)
    late = late_data_sensor(dg.build_sensor_context(instance=instance), platform=platform)
    for request in late.run_requests or []:
        run = _check(defs.resolve_job_def("late_reprocessing").execute_in_process(
            run_config=request.run_config, tags=request.tags, instance=instance), "late_reprocessing")
        print(f"demo: late data: {run.output_for_node('reprocess_late_pitches')} late pitches rescored into "
              f"pitch_features ({request.tags['reason']})", flush=True)
    gates = defs.resolve_job_def("online_publication").execute_in_process(instance=instance, raise_on_error=False)
    for e in gates.get_asset_check_evaluations():
        print(f"demo: quality gate {e.check_name}: {'passed' if e.passed else 'FAILED'}, "
              f"feature QA {e.metadata['feature_qa'].value:.2f}", flush=True)
    for m in gates.asset_materializations_for_node("online_features"):
        print(f"demo: online store ({settings.feast_env}) repaired from the lakehouse: "
              f"{m.metadata['rows_written'].value} rows written, {m.metadata['rows_current'].value} already current "
              f"(the stream pushed them), {m.metadata['pitchers'].value} pitchers", flush=True)
    cutover = defs.resolve_job_def("v2_cutover").execute_in_process(instance=instance, raise_on_error=False)
    checks = {e.check_name: e.passed for e in cutover.get_asset_check_evaluations()}
    switched = cutover.asset_materializations_for_node("active_model_version")
    print(f"demo: v1 -> v2 cutover gates {checks}: "
          + (f"switched to v2, MLflow champion {switched[0].metadata['champion'].value}" if switched else "not switched"),
          flush=True)


@contextmanager
def api_server(settings: Settings, owner: str = "demo") -> Iterator[tuple[str, str]]:
    """The read API in this process on a free loopback port, and an admin key of its own (valid 1 day):
    yields (base URL, token)."""
    import uvicorn

    from api.keys import KeyStore
    from api.main import create_app

    with KeyStore(settings.database_url) as keys:
        keys.ensure_schema()
        token = keys.issue(owner, "admin", ttl_days=1).token
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", token
    finally:
        server.should_exit = True
        thread.join()


def serve(settings: Settings) -> None:
    """The read API on the demo's data, asked as a client would (a key of its own, over HTTP)."""
    import httpx

    with api_server(settings) as (base_url, token), \
            httpx.Client(base_url=base_url, headers={"X-API-Key": token}) as http:
        roster = http.get("/api/pitchers").raise_for_status().json()
        alerts = http.get("/api/alerts").raise_for_status().json()["alerts"]
        first = roster["pitchers"][0]["pitcher_id"] if roster["pitchers"] else None
        one = (http.get(f"/api/pitchers/{first}/readiness", params={"outing": "true"}).raise_for_status().json()
               if first else None)
    print(f"demo: read API: {len(roster['pitchers'])} pitchers served under model {roster['model_version']}, "
          f"{len(alerts)} on alert", flush=True)
    if one:
        print(f"demo: GET /api/pitchers/{first}/readiness -> readiness {one['indices']['readiness']:.1f}, "
              f"alert {one['alert_level']}, pitch of {one['freshness']['event_time']}, "
              f"{len(one['outing'])} points in the outing", flush=True)
    print(f"demo: dashboard: `make api`, open http://127.0.0.1:8000/ with the demo key (valid 1 day): {token}",
          flush=True)


def run_demo(settings: Settings, speedup: float = 120.0, fresh: bool = True, files: list[Path] | None = None) -> Path:
    """Replay, stream, summarize; returns the report page."""
    from readiness_platform.spark import build_spark
    from spark_jobs.stream.main import start_stream

    settings = settings.model_copy(update={"feed_clock_rate": speedup})  # the sensor's runs stamp feed time
    if fresh:
        landing_archive = Path(f"{settings.landing}.archive")
        for path in (settings.landing, landing_archive, Path(settings.tables.root), Path(settings.checkpoints),
                     settings.feast_dir):
            shutil.rmtree(path, ignore_errors=True)
        reset_announcements(settings)
    files = files or [settings.statcast_dir / DEMO_FILE]
    # late messages come 10-30 min (feed time) late, as after a camera reconnect: 5-15 s of the replay's
    # wall time, behind the watermark, so the late-data reprocessing has work to show
    lag = LagModel(watermark_delay_s=settings.watermark_delay_seconds, late_extra_s=(600.0, 1800.0))
    plan = replay_plan(files, lag)
    print(f"demo: {len(plan)} messages planned from {', '.join(p.name for p in files)}; starting Spark", flush=True)
    spark = build_spark(settings, "readiness-demo")
    seasons = sorted({d.event_time.year for d in plan})
    print(f"demo: seasonal baselines of {seasons} from the real seasons, through Dagster", flush=True)
    instance = _dagster_instance(settings)
    for season in seasons:
        _check(dg.materialize([seasonal_baselines], partition_key=str(season), instance=instance,
                              resources=local_resources(settings)), f"seasonal_baselines {season}")
    query = start_stream(spark, settings)
    replay = threading.Thread(
        target=play, args=(plan, LandingFolderSink(settings.landing)), kwargs={"speedup": speedup}, daemon=True
    )
    stop = threading.Event()
    launched: set[str] = set()
    calibrations = threading.Thread(target=_calibration_loop, args=(settings, instance, stop, launched), daemon=True)
    started = time.monotonic()
    replay.start()
    calibrations.start()
    replay.join()
    query.processAllAvailable()
    stop.set()
    calibrations.join()
    query.stop()
    print(f"demo: replay and stream done in {time.monotonic() - started:.0f} s", flush=True)
    orchestrate(settings, instance, launched)
    serve(settings)
    from readiness_platform.report import stream_report

    return stream_report(settings, Path(settings.home) / "reports" / "stream.html")
