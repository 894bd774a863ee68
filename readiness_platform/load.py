"""The load test: synthetic pitchers drawn from the real corpus, through the feed, the stream, the online store
and the read API, with what a staff cares about measured at the end.

    readiness load [--pitchers 25] [--rate 100] [--duration 60] [--warmup 30] [--source kafka|landing]
                   [--online redis|sqlite]

Each synthetic pitcher throws real tracked pitches of one real pitcher of the corpus (replay/synthetic.py),
live (event time = now), through the ballpark's lag model into the source of the settings (Kafka by default
here), into the online store a ballpark runs (Feast's Redis store, the `production` Feast environment;
`--online sqlite`: the laptop's SQLite store). The stream runs back to back; the read API runs in this
process and a dashboard's WebSocket client records when each pitcher's readiness changes. A pitch is
API-visible when the API first pushes that pitcher's readiness at that pitch or a later one in an update of
the pitch's micro-batch or a later one (the update's `source`: an earlier write cannot hold the pitch, even
when it shows a later pitch that overtook it on the way): its event-to-API latency is that moment minus the
pitch's arrival (`ingest_time`, when the producer handed it to the feed), so the feed's own 2-5 s delay is
excluded and reported separately. At the end it prints throughput held, latency p50/p95/p99, the CPU
the machine and the stream used meanwhile (readiness_platform/cpu.py), late fraction, quarantine count,
and the loss check: every pitch sent is in bronze exactly once, and every pitcher's served readiness
equals the gold table once the stream has settled (it still finalizes and writes for some seconds after
the last pitch lands: seen here, 8.7 s at 2,000 events/s).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from readiness_platform.cpu import cores_used, read_cpu
from readiness_platform.domain.errors import ReadinessError
from readiness_platform.replay.lag import LagModel
from readiness_platform.settings import REPO_ROOT, Settings

WARMUP_FIRST_PITCHER = 5_000  # warm-up pitchers are numbered apart from the measured ones
ONLINE_STORES = {"redis": "production", "sqlite": "local"}  # --online -> the Feast environment (settings.feast_env)


@dataclass(frozen=True)
class LoadResult:
    source: str
    online_store: str  # redis or sqlite
    pitchers: int
    offered_events_per_s: float
    pitches_sent: int
    pitches_in_bronze: int
    pitches_per_s_held: float  # pitches landed over the load's duration plus the drain after it
    feed_delay_p50_s: float  # event time -> arrival: the ballpark's own lag, not the platform's
    api_latency_p50_s: float
    api_latency_p95_s: float
    api_latency_p99_s: float
    api_latency_max_s: float
    # where the latency goes, per pitch (p50, p99): arrival -> its micro-batch starts; -> the online write
    # that made it visible is announced (the micro-batch's work); -> the dashboard's WebSocket has it
    waiting_s: tuple[float, float]
    micro_batch_s: tuple[float, float]
    fan_out_s: tuple[float, float]
    late_fraction: float
    quarantined: int
    lost: int
    doubled: int
    served_mismatches: int
    drain_after_load_s: float
    # over the load's duration, on average (None without Linux's /proc): cores the machine had busy, of
    # `machine_cores`, and cores the stream's processes used (its driver's Python, its JVM, their Python workers)
    machine_cores: int
    machine_busy_cores: float | None
    stream_cores: float | None

    def lines(self) -> list[str]:
        ok = not (self.lost or self.doubled or self.served_mismatches)
        return [
            f"load: {self.pitchers} pitchers at {self.offered_events_per_s:g} events/s through {self.source} "
            f"into the {self.online_store} online store: "
            f"{self.pitches_sent} pitches sent, {self.pitches_in_bronze} in bronze, "
            f"{self.pitches_per_s_held:.0f} pitches/s held",
            f"load: event-to-API-visible latency p50 {self.api_latency_p50_s:.2f} s, p95 {self.api_latency_p95_s:.2f} s, "
            f"p99 {self.api_latency_p99_s:.2f} s, max {self.api_latency_max_s:.2f} s "
            f"(the feed's own delay, excluded: p50 {self.feed_delay_p50_s:.2f} s)",
            "load: where it goes, p50 / p99: waiting for the micro-batch {:.2f} / {:.2f} s, the micro-batch until "
            "the online write is announced {:.2f} / {:.2f} s, the API's push to the WebSocket {:.2f} / {:.2f} s".format(
                *self.waiting_s, *self.micro_batch_s, *self.fan_out_s),
            *([f"load: CPU during the load: the machine {self.machine_busy_cores:.2f} of {self.machine_cores} cores "
               f"busy, the stream's processes (driver, JVM, Python workers) {self.stream_cores:.2f} of them"]
              if self.machine_busy_cores is not None else []),
            f"load: late fraction {self.late_fraction:.3f}, {self.quarantined} quarantined, drained "
            f"{self.drain_after_load_s:.1f} s after the load stopped",
            f"load: {'nothing lost' if ok else 'LOSS'}: {self.lost} pitches missing from bronze, {self.doubled} "
            f"doubled, {self.served_mismatches} pitchers whose served readiness differs from gold",
        ]


class Visibility:
    """A dashboard's WebSocket: when each pitcher's served pitch moved forward, by wall clock, when the
    online write that moved it was announced (the update's `written_at`) and the micro-batch it came from."""

    def __init__(self, base_url: str, token: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(base_url.replace("http://", "ws://") + "/api/live", open_timeout=10, max_size=None)
        self.ws.send(json.dumps({"type": "auth", "token": token}))
        if json.loads(self.ws.recv(timeout=10)).get("type") != "snapshot":
            raise ReadinessError("load: the WebSocket did not answer with a snapshot")
        # pitcher -> [(wall clock, pitch, announced at, (stream run, micro-batch) or None)]
        self.seen: dict[int, list[tuple[float, tuple, float, tuple | None]]] = defaultdict(list)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        from readiness_platform.feature_store import parse_batch_source

        try:
            for raw in self.ws:
                now = time.time()
                m = json.loads(raw)
                if m["type"] == "updates":
                    source = parse_batch_source(m.get("source"))
                    for p in m["pitchers"]:
                        f = p["features"]
                        self.seen[p["pitcher_id"]].append(
                            (now, (f["game_pk"], f["at_bat_number"], f["pitch_number"]), m["written_at"], source))
        except ConnectionClosed:
            pass

    def close(self) -> None:
        self.ws.close()
        self._thread.join(timeout=10)

    def visible_at(self, pitcher: int, pitch: tuple, app: str, batch: int) -> tuple[float, float] | None:
        """When the API first pushed this pitcher at `pitch` or later from micro-batch `batch` of stream run
        `app` or a later one, and when that write was announced."""
        return next(((t, written) for t, shown, written, source in self.seen.get(pitcher, [])
                     if shown >= pitch and source is not None and source[0] == app and source[1] >= batch), None)


def _sink(settings: Settings):  # noqa: ANN202 - a FeedSink
    from readiness_platform.smoke import feed_sink

    return feed_sink(settings)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives another process these settings (the ones set explicitly)."""
    from pydantic import AliasChoices

    env = dict(os.environ)
    for name, value in settings.model_dump(include=settings.model_fields_set).items():
        if value is None:
            continue
        alias = type(settings).model_fields[name].validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [f"READINESS_{name.upper()}"]
        env.update({str(n): str(value) for n in names})
    return env


@contextmanager
def stream_process(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen]:
    """The stream job in its own process, as it runs at a ballpark (`python -m spark_jobs.stream.main`):
    its driver's Python (the per-batch scoring) then shares no interpreter lock with the API or the clock
    that measures it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "spark_jobs.stream.main"], env=settings_env(settings),
                                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:  # the driver and the JVM it started, together
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _landed(settings: Settings, pitchers: range) -> set[tuple[int, int, int]]:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        rows = DeltaTable(settings.tables.pitches).to_pyarrow_table(
            columns=["pitcher_id", "game_pk", "at_bat_number", "pitch_number"]).to_pylist()
    except TableNotFoundError:
        return set()
    return {(r["game_pk"], r["at_bat_number"], r["pitch_number"]) for r in rows if r["pitcher_id"] in pitchers}


def _wait_landed(settings: Settings, pitchers: range, want: set, proc: subprocess.Popen, log_path: Path,
                 timeout_s: float) -> float:
    """Until every pitch of `want` is in bronze (the stream has drained the load); when that was."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise ReadinessError(f"load: the stream exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        if want <= _landed(settings, pitchers):
            return time.time()
        time.sleep(0.5)
    return time.time()  # not all landed: the loss check says how many


def run_load(settings: Settings, pitchers: int = 25, rate: float = 100.0, duration_s: float = 60.0,
             warmup_s: float = 30.0, drain_timeout_s: float = 120.0) -> LoadResult:
    """Run the load on fresh tables (under settings.home) and measure it; see the module's docstring."""
    import httpx

    from readiness_platform.demo import api_server, reset_announcements
    from readiness_platform.replay.synthetic import SYNTHETIC_GAME_PK, run_load as deliver
    from readiness_platform.report import read_table

    for path in (settings.tables.root, settings.checkpoints, str(settings.landing), str(settings.feast_dir)):
        shutil.rmtree(path, ignore_errors=True)
    reset_announcements(settings)
    if settings.stream_source == "kafka":
        from readiness_platform.kafka import delete_topics, ensure_topics

        delete_topics(settings)  # a fresh run: no earlier load waiting in the topics
        ensure_topics(settings)
    lag = LagModel(watermark_delay_s=settings.watermark_delay_seconds)
    measured = range(SYNTHETIC_GAME_PK, SYNTHETIC_GAME_PK + pitchers)
    log_path = Path(settings.home) / "stream.log"
    print(f"load: starting the stream ({settings.stream_source} source; its log: {log_path})", flush=True)
    with stream_process(settings, log_path) as proc, api_server(settings, owner="load") as (base_url, token):
        if warmup_s > 0:  # a cold JVM is 3-4x slower than a warm one; a ballpark stream runs for hours
            print(f"load: warm-up, {warmup_s:g} s of the same load on other pitchers", flush=True)
            first = SYNTHETIC_GAME_PK + WARMUP_FIRST_PITCHER
            plan = deliver(settings.landing, settings.statcast_dir, pitchers, rate, warmup_s, lag, _sink(settings),
                           first_pitcher=WARMUP_FIRST_PITCHER)
            _wait_landed(settings, range(first, first + pitchers), _sent_pitches(plan), proc, log_path,
                         drain_timeout_s + 180)  # the first micro-batches also wait for Spark to start
        live = Visibility(base_url, token)
        print(f"load: {pitchers} pitchers at {rate:g} events/s for {duration_s:g} s", flush=True)
        cpu_start = read_cpu(proc.pid)  # the stream's processes: its own session (stream_process)
        plan = deliver(settings.landing, settings.statcast_dir, pitchers, rate, duration_s, lag, _sink(settings))
        cpu = cores_used(cpu_start, read_cpu(proc.pid))
        load_end = time.time()
        sent = _sent_pitches(plan)
        drained = _wait_landed(settings, measured, sent, proc, log_path, drain_timeout_s)
        time.sleep(2.0)  # the gold/online write of the last batch, and its fan-out
        live.close()
        with httpx.Client(base_url=base_url, headers={"X-API-Key": token}, timeout=10) as http:
            mismatched = _served_against_gold(settings, http, measured)

    bronze = read_table(settings.tables.pitches, ["pitcher_id", "game_pk", "at_bat_number", "pitch_number",
                                                  "event_time", "ingest_time", "is_late", "ingest_app_id",
                                                  "ingest_batch_id"])
    bronze = bronze[bronze["pitcher_id"].isin(measured)]
    keys = list(zip(bronze["game_pk"], bronze["at_bat_number"], bronze["pitch_number"]))
    lost = len(sent - set(keys))
    doubled = len(keys) - len(set(keys))
    started = read_table(settings.tables.stream_metrics, ["app_id", "batch_id", "batch_time"]).set_index(
        ["app_id", "batch_id"])["batch_time"]  # when each micro-batch started
    on_time = bronze[~bronze["is_late"]]
    parts = []  # per pitch: (waiting, micro-batch, fan-out); their sum is its latency
    for r in on_time.itertuples():
        arrived, batch = r.ingest_time.timestamp(), started[(r.ingest_app_id, r.ingest_batch_id)].timestamp()
        shown = live.visible_at(r.pitcher_id, (r.game_pk, r.at_bat_number, r.pitch_number), r.ingest_app_id,
                                r.ingest_batch_id)
        if shown is not None:
            parts.append((batch - arrived, shown[1] - batch, shown[0] - shown[1]))
    split = np.array(parts) if parts else np.full((1, 3), np.nan)
    lat = split.sum(axis=1)
    arrival = bronze["ingest_time"]
    quarantine = read_table(settings.tables.quarantine, ["reason"])
    return LoadResult(
        source=settings.stream_source, online_store=online_store_of(settings), pitchers=pitchers,
        offered_events_per_s=rate, pitches_sent=len(sent), pitches_in_bronze=len(set(keys)),
        pitches_per_s_held=len(set(keys)) / (duration_s + drained - load_end),
        feed_delay_p50_s=float((arrival - bronze["event_time"]).dt.total_seconds().median()),
        api_latency_p50_s=float(np.percentile(lat, 50)), api_latency_p95_s=float(np.percentile(lat, 95)),
        api_latency_p99_s=float(np.percentile(lat, 99)), api_latency_max_s=float(np.max(lat)),
        waiting_s=_p50_p99(split[:, 0]), micro_batch_s=_p50_p99(split[:, 1]), fan_out_s=_p50_p99(split[:, 2]),
        late_fraction=float(bronze["is_late"].mean()) if len(bronze) else 0.0, quarantined=len(quarantine),
        lost=lost, doubled=doubled, served_mismatches=len(mismatched), drain_after_load_s=drained - load_end,
        machine_cores=os.cpu_count() or 1, machine_busy_cores=cpu[0] if cpu else None,
        stream_cores=cpu[1] if cpu else None)


def _served_against_gold(settings: Settings, http, pitchers: range,  # noqa: ANN001 - an httpx.Client
                         settle_s: float = 20.0) -> list[int]:
    """The pitchers whose served readiness (the API's) is not the gold table's - same pitch, same readiness -
    once the stream has settled: the stream still runs here (the watermark's last finalizations, the
    background online write), so a difference seen while gold moves is read again, for up to `settle_s`."""
    began = time.time()
    first = mismatched = _mismatched(settings, http, pitchers)
    while mismatched and time.time() < began + settle_s:
        time.sleep(1.0)
        mismatched = _mismatched(settings, http, pitchers)
    if mismatched:
        print(f"load: served readiness differs from gold for {len(mismatched)} pitchers after {settle_s:g} s, "
              f"e.g. {mismatched[:5]}", flush=True)
    elif first:
        print(f"load: {len(first)} pitchers' served readiness caught up with gold {time.time() - began:.1f} s "
              f"after the first read (the stream was still writing)", flush=True)
    return mismatched


def _mismatched(settings: Settings, http, pitchers: range) -> list[int]:  # noqa: ANN001 - an httpx.Client
    """One read of each pitcher's served readiness, then of gold: the pitchers whose pitch or readiness differ."""
    from readiness_platform.report import read_table

    served = {pid: _served(http, pid) for pid in pitchers}
    gold = read_table(settings.tables.pitcher_readiness, ["pitcher_id", "model_version", "game_pk",
                                                          "at_bat_number", "pitch_number", "readiness"])
    gold = {(r.pitcher_id, r.model_version): r for r in gold.itertuples()}
    out = []
    for pid, body in served.items():
        if body is None:  # nothing served for him
            out.append(pid)
            continue
        g = gold.get((pid, body.get("model_version")))
        f = body.get("features", {})
        if g is None or (g.game_pk, g.at_bat_number, g.pitch_number) != (
                f.get("game_pk"), f.get("at_bat_number"), f.get("pitch_number")) \
                or abs(g.readiness - body["indices"]["readiness"]) > 1e-9:
            out.append(pid)
    return out


def _served(http, pitcher_id: int) -> dict | None:  # noqa: ANN001 - an httpx.Client
    """A pitcher's served readiness (None: the API has none), read as a dashboard would: a request the API's
    rate limit turns away (429) is sent again after its Retry-After. Reading every measured pitcher at once
    is more than the limit allows (200 a second per key by default): before this, the turned-away reads
    counted as pitchers whose served readiness differed from gold."""
    while True:
        response = http.get(f"/api/pitchers/{pitcher_id}/readiness")
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", 1)))
            continue
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()


def online_store_of(settings: Settings) -> str:
    return next(store for store, env in ONLINE_STORES.items() if env == settings.feast_env)


def _p50_p99(values: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def _sent_pitches(plan: list) -> set[tuple[int, int, int]]:
    """The keys of the pitches the load delivered undamaged at least once."""
    out = set()
    for d in plan:
        if d.kind == "pitch" and not d.corruption:
            r = json.loads(d.payload)
            out.add((r["game_pk"], r["at_bat_number"], r["pitch_number"]))
    return out


def print_result(result: LoadResult) -> None:
    for line in result.lines():
        print(line, flush=True)


def as_dict(result: LoadResult) -> dict:
    """The result's fields, a (p50, p99) pair as its text "p50 / p99" (a table's cell)."""
    return {k: f"{v[0]:.2f} / {v[1]:.2f}" if isinstance(v, tuple) else v for k, v in asdict(result).items()}
