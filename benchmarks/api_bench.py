"""Benchmark of the read service against Feast's own feature server and raw Redis, and of the live feed's push.

    python -m benchmarks.api_bench [--duration 20] [--concurrency 8] [--pitchers 500] [--updates 200]

One run, on one data set, three targets side by side, all on loopback against the real Redis:
  a. our API: GET /api/pitchers/{id}/readiness (uvicorn, 1 worker, its own process; key check, rate limit,
     audit, the Feast row read directly from Redis, the outing's points, the response model);
  b. Feast's feature server (`feast serve`, gunicorn + 1 uvicorn worker): POST /get-online-features for the
     same pitcher through the feature service of the version the API serves;
  c. the floor: one HGETALL of the same Feast key from this process (RedisOnlineReader.key).
Data: the real corpus scored by both versions (backtest_rows); per pitcher and version the latest row goes
online and the earlier pitches of its last game make up the outing the API returns. With more --pitchers
than the corpus has, real pitchers are replicated under synthetic ids (SYNTHETIC_GAME_PK + n). Everything
lives in a temporary READINESS_HOME, a dedicated Redis DB (flushed first and last) and a PostgreSQL schema
of its own (keys, audit rows and the deployment record; dropped at the end).
Per target: 1) latency, one client sending sequential keep-alive requests over random pitchers;
2) throughput, --concurrency clients (threads, one persistent http.client connection each).
A sample of pitchers is checked first: the API's and Feast's readiness equal the row written.
Then the WebSocket: an admin client on /api/live while --updates real pitches of one pitcher are written
(write_online, one every --update-interval s); push latency = receipt - the update's written_at.
Client, servers and Redis share this machine's cores: figures are for the machine, not the service alone.
Each phase also reports the server's CPU per request (its process group's, or Redis's) and the CPU other
processes took meanwhile (/proc/stat), so a phase crowded by someone else's job is visible as such.
Prints the figures and PASS/MISS against the product's targets; writes them to <home>/bench/api_bench.json.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version as package_version
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import numpy as np
import pandas as pd

from readiness_platform.replay.synthetic import SYNTHETIC_GAME_PK
from readiness_platform.scratch_db import scratch_schema
from readiness_platform.settings import REPO_ROOT, Settings, get_settings

API_P99_TARGET_MS = 5.0
PUSH_P99_TARGET_MS = 100.0
SERVED_VERSION = "v2"  # made active in the benchmark's own schema, so both servers read the same view
_started = time.monotonic()


def _say(message: str) -> None:
    print(f"[{time.monotonic() - _started:6.1f}s] {message}", flush=True)


class BenchError(RuntimeError):
    """The benchmark could not run as set up; the message says what to look at."""


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    latest: list[dict]        # per pitcher and version: the row that is online
    outing: list[dict]        # the earlier pitches of each pitcher's last game, oldest first
    updates: list[dict]       # the WebSocket phase's writes: (v1, v2) rows of one real pitcher's pitches
    pitchers: list[int]
    real: int
    synthetic: int


def _rows(pitchers: int, updates: int, seed: int) -> Data:
    from readiness_platform.backtest import backtest_rows

    scored = backtest_rows(get_settings().statcast_dir)
    scored = scored.sort_values(["event_time", "game_pk", "at_bat_number", "pitch_number"], kind="stable")
    real_ids = sorted(int(p) for p in scored["pitcher_id"].unique())
    chosen = sorted(random.Random(seed).sample(real_ids, pitchers)) if pitchers < len(real_ids) else real_ids
    scored = scored[scored["pitcher_id"].isin(chosen)]
    latest = scored.groupby(["pitcher_id", "model_version"], sort=False).tail(1)
    last_game = latest.set_index(["pitcher_id", "model_version"])["game_pk"].rename("last_game")
    in_last = scored.join(last_game, on=["pitcher_id", "model_version"])
    outing = in_last[(in_last["game_pk"] == in_last["last_game"])].drop(columns="last_game")
    outing = outing.drop(index=latest.index)
    # the WebSocket replays the last `updates` pitches of the pitcher with the most pitches, ending online
    # on its latest row again
    busiest = int(scored[scored["model_version"] == SERVED_VERSION]["pitcher_id"].value_counts().idxmax())
    own = scored[scored["pitcher_id"] == busiest]
    keys = own[["game_pk", "at_bat_number", "pitch_number"]].drop_duplicates().tail(updates)
    replay = own.merge(keys, on=["game_pk", "at_bat_number", "pitch_number"])
    replay = replay.sort_values(["event_time", "game_pk", "at_bat_number", "pitch_number", "model_version"],
                                kind="stable")

    latest_rows, outing_rows = _records(latest), _records(outing)
    extra = max(0, pitchers - len(chosen))
    latest_of, outing_of = _by_pitcher(latest_rows), _by_pitcher(outing_rows)
    for n in range(extra):  # replicas of real pitchers under synthetic ids
        source, new_id = chosen[n % len(chosen)], SYNTHETIC_GAME_PK + n
        latest_rows += [{**r, "pitcher_id": new_id} for r in latest_of[source]]
        outing_rows += [{**r, "pitcher_id": new_id} for r in outing_of.get(source, [])]
    outing_rows.sort(key=lambda r: r["event_time"])
    return Data(latest_rows, outing_rows, _records(replay), [*chosen, *(SYNTHETIC_GAME_PK + n for n in range(extra))],
                len(chosen), extra)


def _by_pitcher(rows: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in rows:
        out.setdefault(int(r["pitcher_id"]), []).append(r)
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.drop(columns=["drivers"], errors="ignore").to_dict("records")


def _seed(settings: Settings, client, data: Data) -> None:  # noqa: ANN001
    from readiness_platform.feature_store import announce, apply_repo, write_online

    apply_repo(settings)
    for i in range(0, len(data.outing), 2000):  # the outing's points (lists in Redis), oldest first
        announce(client, data.outing[i:i + 2000])
    for i in range(0, len(data.latest), 500):
        write_online(settings, data.latest[i:i + 500], client)


def _redis_db_url(db: int) -> str:
    u = urlparse(get_settings().redis_url)
    return urlunparse(u._replace(path=f"/{db}"))


# ------------------------------------------------------------------------------------------- servers


def _server_env(**extra: str) -> dict[str, str]:
    # importing feast here set PROMETHEUS_MULTIPROC_DIR to a folder of this process (feast.metrics does it at
    # import); a server started standalone would not inherit it
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_MULTIPROC")}
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server in its own process group (so its workers stop with it), output to a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path, port: int, health: str,
                 stop_signal: int = signal.SIGTERM) -> None:
        self.name, self.cmd, self.env, self.log, self.port, self.health = name, cmd, env, log, port, health
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_ready(self, timeout_s: float = 120.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}; its log ({self.log}):\n"
                                 f"{self.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    conn.request("GET", self.health)
                    if conn.getresponse().status == 200:
                        return time.monotonic() - started
                finally:
                    conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer {self.health} in {timeout_s:.0f}s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, self.stop_signal)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _api_server(settings: Settings, home: Path) -> Server:
    port = _free_port()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http_impl = "httptools" if importlib.util.find_spec("httptools") else "h11"
    env = _server_env(READINESS_HOME=str(settings.home), READINESS_FEAST_ENV="production", REDIS_URL=settings.redis_url,
                      DATABASE_URL=settings.database_url,
                      READINESS_RATE_LIMIT_PER_SECOND=str(settings.rate_limit_per_second))
    cmd = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning",
           "--loop", loop, "--http", http_impl]
    # SIGINT: uvicorn re-raises the signal it stopped on once shut down; SIGTERM's default action then ends the
    # process before atexit handlers run (feast.metrics' removes the /tmp/feast_metrics_* folder it made)
    return Server(f"API (uvicorn, {loop}, {http_impl})", cmd, env, home / "api.log", port, "/healthz",
                  stop_signal=signal.SIGINT)


def _feast_server(settings: Settings, home: Path) -> Server:
    from readiness_platform.feature_store import REPO_DIR, feast_env

    port = _free_port()
    env = _server_env(**feast_env(settings), READINESS_HOME=str(settings.home))
    # --max-requests 0: gunicorn would otherwise recycle the worker every ~1000 requests (Feast's default),
    # a restart in the middle of the measurement that says nothing about reading features
    cmd = [str(Path(sys.executable).parent / "feast"), "-c", str(REPO_DIR), "-f",
           str(REPO_DIR / f"feature_store.{settings.feast_env}.yaml"), "--log-level", "warning",
           "serve", "-h", "127.0.0.1", "-p", str(port), "--no-access-log", "--workers", "1", "--max-requests", "0"]
    return Server("Feast feature server", cmd, env, home / "feast.log", port, "/health")


class CpuMeter:
    """CPU the rest of the machine used during a phase: all busy time (/proc/stat) minus this process's, the
    servers' process groups' and Redis's. This is a shared machine; a phase that other processes crowd is
    reported as such rather than passed off as the service's latency."""

    def __init__(self, pids: set[int], pgids: set[int]) -> None:
        self.pids, self.pgids, self.tick = pids, pgids, os.sysconf("SC_CLK_TCK")

    def _machine_busy(self) -> float:
        with open("/proc/stat") as f:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
        return (user + nice + system + irq + softirq + steal) / self.tick

    def _ours(self) -> dict[int, float]:
        """CPU seconds by pid (of `pids`) or process group (of `pgids`)."""
        total: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            owner = int(entry) if int(entry) in self.pids else int(fields[2]) if int(fields[2]) in self.pgids else None
            if owner is not None:
                total[owner] = total.get(owner, 0.0) + (int(fields[11]) + int(fields[12])) / self.tick  # utime+stime
        return total

    def snapshot(self) -> tuple[float, float, dict[int, float]]:
        return time.monotonic(), self._machine_busy(), self._ours()

    def since(self, start: tuple[float, float, dict[int, float]], requests: float, server: int) -> dict[str, float]:
        """Other processes' load (cores) and the target server's CPU per request (ms) since `start`."""
        now = self.snapshot()
        ours = {k: v - start[2].get(k, 0.0) for k, v in now[2].items()}
        others = max(0.0, (now[1] - start[1]) - sum(ours.values())) / max(1e-9, now[0] - start[0])
        return {"other_cpu_cores": others, "server_cpu_ms_per_req": 1000 * ours.get(server, 0.0) / max(1.0, requests)}


# ------------------------------------------------------------------------------------------- targets

Call = Callable[[int], int]  # pitcher id -> bytes received; raises on a failed request


class HttpTarget:
    """Requests over one persistent http.client connection per client (cheaper per request than httpx)."""

    def __init__(self, name: str, server: Server,
                 request: Callable[[int], tuple[str, str, bytes | None, dict]]) -> None:
        self.name, self.port, self.request = name, server.port, request
        self.server = server.proc.pid  # its process group, for the CPU it spends

    def client(self) -> Call:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

        def call(pid: int) -> int:
            method, path, body, headers = self.request(pid)
            try:
                conn.request(method, path, body, headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()  # reconnects on the next request
                raise
            if response.status != 200:
                raise BenchError(f"{self.name}: HTTP {response.status} for pitcher {pid}: {data[:200]!r}")
            return len(data)

        return call


class RedisTarget:
    """The floor: one HGETALL of the pitcher's Feast key (keys computed beforehand, as the API caches fields)."""

    def __init__(self, name: str, client, pitchers: list[int]) -> None:  # noqa: ANN001
        from readiness_platform.online import RedisOnlineReader

        reader = RedisOnlineReader(client)
        self.name, self.redis, self.keys = name, client, {p: reader.key(p) for p in pitchers}
        self.server = int(client.info("server")["process_id"])

    def client(self) -> Call:
        def call(pid: int) -> int:
            values = self.redis.hgetall(self.keys[pid])
            if not values:
                raise BenchError(f"{self.name}: nothing under the Feast key of pitcher {pid}")
            return sum(len(k) + len(v) for k, v in values.items())

        return call


def _stats(lat_ns: list[int], elapsed_s: float, errors: list[str], received: int) -> dict:
    lat = np.asarray(lat_ns, dtype=np.float64) / 1e6
    if not len(lat):
        raise BenchError(f"no request succeeded; first error: {errors[0] if errors else '-'}")
    return {"requests": float(len(lat)), "errors": float(len(errors)), "first_error": errors[0] if errors else None,
            "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max()), "mean_ms": float(lat.mean()),
            "req_per_s": len(lat) / elapsed_s, "bytes_per_response": received / len(lat)}


def _drive(call: Call, pitchers: list[int], rng: random.Random, until: float, lat: list[int]) -> tuple[list[str], int]:
    """Requests until `until`; their latencies into `lat`; the failures (counted, not timed) and bytes received."""
    errors: list[str] = []
    received = 0
    choice, clock = rng.choice, time.perf_counter_ns
    while time.perf_counter() < until:
        pid = choice(pitchers)
        t0 = clock()
        try:
            received += call(pid)
        except (OSError, http.client.HTTPException, BenchError) as e:
            errors.append(f"{type(e).__name__}: {e}")
            continue
        lat.append(clock() - t0)
    return errors, received


def _latency_phase(target, pitchers: list[int], duration: float, warmup: float, seed: int,  # noqa: ANN001
                   meter: CpuMeter) -> dict:
    call = target.client()
    _drive(call, pitchers, random.Random(seed - 1), time.perf_counter() + warmup, [])
    lat: list[int] = []
    cpu = meter.snapshot()
    started = time.perf_counter()
    errors, received = _drive(call, pitchers, random.Random(seed), started + duration, lat)
    stats = _stats(lat, time.perf_counter() - started, errors, received)
    return {**stats, **meter.since(cpu, stats["requests"], target.server)}


def _throughput_phase(target, pitchers: list[int], duration: float, concurrency: int, seed: int,  # noqa: ANN001
                      meter: CpuMeter) -> dict:
    calls = [target.client() for _ in range(concurrency)]
    for call in calls:  # connect before the clock starts
        call(pitchers[0])
    lats: list[list[int]] = [[] for _ in calls]
    results: list[tuple[list[str], int]] = [([], 0)] * concurrency
    barrier = threading.Barrier(concurrency + 1)
    until = [0.0]

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = _drive(calls[i], pitchers, random.Random(seed + i), until[0], lats[i])

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    cpu = meter.snapshot()
    started = time.perf_counter()
    until[0] = started + duration
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    stats = _stats([x for lat in lats for x in lat], elapsed, [x for e, _ in results for x in e],
                   sum(r for _, r in results))
    return {**stats, **meter.since(cpu, stats["requests"], target.server)}


# --------------------------------------------------------------------------------------- correctness


def _check(api_port: int, feast_port: int, token: str, expected: dict[int, dict], sample: list[int]) -> dict:
    """The API's and Feast's answers for `sample` against the rows written (readiness, fatigue, risk)."""
    api = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
    feast = http.client.HTTPConnection("127.0.0.1", feast_port, timeout=10)
    wrong: list[str] = []
    for pid in sample:
        row = expected[pid]
        api.request("GET", f"/api/pitchers/{pid}/readiness", headers={"X-API-Key": token})
        r = api.getresponse()
        body = json.loads(r.read())
        if r.status != 200 or body["model_version"] != SERVED_VERSION or body["indices"] != {
                k: row[k] for k in ("readiness", "fatigue", "risk")}:
            wrong.append(f"API pitcher {pid}: {r.status} {str(body)[:200]}")
        feast.request("POST", "/get-online-features", _feast_body(pid), {"Content-Type": "application/json"})
        r = feast.getresponse()
        body = json.loads(r.read())
        got = {} if r.status != 200 else {
            name: col["values"][0] for name, col in zip(body["metadata"]["feature_names"], body["results"])}
        if got.get("pitcher_id") != pid or any(got.get(k) != row[k] for k in ("readiness", "fatigue", "risk")):
            wrong.append(f"Feast pitcher {pid}: {r.status} readiness {got.get('readiness')} != {row['readiness']}")
    if wrong:
        raise BenchError("served values differ from the rows written:\n  " + "\n  ".join(wrong[:10]))
    return {"pitchers_checked": len(sample), "api_equal": len(sample), "feast_equal": len(sample)}


def _feast_body(pid: int) -> bytes:
    return json.dumps({"feature_service": f"readiness_{SERVED_VERSION}", "entities": {"pitcher_id": [pid]}}).encode()


# ------------------------------------------------------------------------------------------ websocket


def _push_latency(api_port: int, token: str, settings: Settings, client, updates: list[dict],  # noqa: ANN001
                  interval_s: float) -> dict:
    """Write each pitch's rows (v1 and v2, as the stream does) and time the update the API pushes for it."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from readiness_platform.feature_store import write_online

    pitches: list[list[dict]] = []
    for r in updates:
        if pitches and (pitches[-1][0]["game_pk"], pitches[-1][0]["at_bat_number"], pitches[-1][0]["pitch_number"]) \
                == (r["game_pk"], r["at_bat_number"], r["pitch_number"]):
            pitches[-1].append(r)
        else:
            pitches.append([r])
    received: list[tuple[float, str | bytes]] = []
    with connect(f"ws://127.0.0.1:{api_port}/api/live", max_size=None, proxy=None, open_timeout=10) as ws:
        t0 = time.perf_counter()
        ws.send(json.dumps({"type": "auth", "token": token}))
        raw = ws.recv(timeout=60)
        snapshot_ms = (time.perf_counter() - t0) * 1000
        snapshot = json.loads(raw)
        if snapshot.get("type") != "snapshot":
            raise BenchError(f"the live feed answered {str(snapshot)[:200]} instead of a snapshot")
        stop = threading.Event()

        def receive() -> None:
            while not stop.is_set():
                try:
                    message = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return  # what arrived is counted; the missing updates show as not pushed
                received.append((time.time(), message))

        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        windows: list[tuple[float, float]] = []  # each write's [start, end]: its written_at falls inside
        started = time.perf_counter()
        for i, rows in enumerate(pitches):
            time.sleep(max(0.0, started + i * interval_s - time.perf_counter()))
            before = time.time()
            write_online(settings, rows, client)
            windows.append((before, time.time()))
        deadline = time.monotonic() + 5
        while len(received) < len(pitches) and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        receiver.join()
    # Redis pub/sub channels ignore the DB number: writers on other DBs of this Redis (another session's
    # stream) announce on the same channel, and the API pushes what it finds for those ids in its own DB.
    # Only updates whose written_at falls inside one of our writes count.
    ours: dict[int, tuple[float, dict]] = {}  # write -> (seconds from its announcement to receipt, the body)
    foreign = 0
    for t, raw_message in received:
        m = json.loads(raw_message)
        if m.get("type") != "updates":
            continue
        i = next((i for i, (a, b) in enumerate(windows) if a <= m["written_at"] <= b), None)
        for body in m["pitchers"]:
            if i is None or body["pitcher_id"] != pitches[i][0]["pitcher_id"] or i in ours:
                foreign += 1
            else:
                ours[i] = (t - m["written_at"], body)
    lat = np.asarray([pushed * 1000 for pushed, _ in ours.values()])
    written = [next(r for r in rows if r["model_version"] == SERVED_VERSION)["readiness"] for rows in pitches]
    equal = sum(body["indices"]["readiness"] == written[i] for i, (_, body) in ours.items())
    return {"updates_written": len(pitches), "updates_received": len(ours), "values_equal": equal,
            "foreign_updates_ignored": foreign,
            "push_p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "push_p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
            "push_max_ms": float(lat.max()) if len(lat) else float("nan"),
            "snapshot_pitchers": len(snapshot["pitchers"]), "snapshot_bytes": len(raw), "snapshot_ms": snapshot_ms}


# ------------------------------------------------------------------------------------------- report


def _machine(redis_client) -> dict:  # noqa: ANN001
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0], "redis_server": redis_client.info("server")["redis_version"],
            **{p: package_version(p) for p in ("fastapi", "uvicorn", "feast", "redis", "websockets")}}


COLUMNS = {"p50_ms": "p50 ms", "p99_ms": "p99 ms", "max_ms": "max ms", "req_per_s": "req/s", "requests": "requests",
           "errors": "errors", "bytes_per_response": "bytes/resp", "server_cpu_ms_per_req": "server CPU ms/req",
           "other_cpu_cores": "others' CPU (cores)"}


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _print(results: dict, args: argparse.Namespace) -> None:
    m, d = results["machine"], results["data"]
    print(f"\nAPI benchmark - {m['cores']} cores ({m['cpu']}), Python {m['python']}, Redis {m['redis_server']}, "
          f"fastapi {m['fastapi']}, uvicorn {m['uvicorn']}, feast {m['feast']}; "
          f"client, servers and Redis share the cores")
    print(f"data: {d['pitchers']} pitchers ({d['real']} real from the corpus"
          + (f", {d['synthetic']} synthetic ids replicating real pitchers" if d["synthetic"] else "")
          + f"), model {SERVED_VERSION}, {d['outing_points']} outing points online; "
          f"{args.duration:g} s per phase after {args.warmup:g} s warm-up")
    c = results["correctness"]
    print(f"correctness: readiness equal to the row written for {c['api_equal']}/{c['pitchers_checked']} (API) "
          f"and {c['feast_equal']}/{c['pitchers_checked']} (Feast) sampled pitchers")
    for phase, title in (("latency", "1 client, sequential keep-alive requests"),
                         ("throughput", f"{args.concurrency} concurrent clients")):
        table = pd.DataFrame({name: r[phase] for name, r in results["targets"].items()}).T
        table = table[list(COLUMNS)].astype(float).rename(columns=COLUMNS)
        print(f"\n{phase}: {title}")
        with pd.option_context("display.float_format", "{:,.2f}".format, "display.width", 200):
            print(table.to_string())
        for name, r in results["targets"].items():
            if r[phase]["errors"]:
                print(f"  {name}: {r[phase]['errors']:.0f} failed requests, the first: {r[phase]['first_error']}")
    w = results["websocket"]
    print(f"\nwebsocket /api/live: {w['updates_received']}/{w['updates_written']} updates pushed "
          f"({w['values_equal']} with the readiness written), one every {args.update_interval * 1000:g} ms; "
          f"push latency p50 {w['push_p50_ms']:.2f} ms, p99 {w['push_p99_ms']:.2f} ms, "
          f"max {w['push_max_ms']:.2f} ms"
          + (f"; {w['foreign_updates_ignored']} updates announced by other writers on this Redis ignored"
             if w["foreign_updates_ignored"] else ""))
    print(f"  snapshot on connect: {w['snapshot_pitchers']} pitchers, {w['snapshot_bytes'] / 1e6:.2f} MB "
          f"in {w['snapshot_ms']:.0f} ms")
    print()
    for line in results["targets_check"]:
        print(line)
    busy = max(r[phase]["other_cpu_cores"] for r in results["targets"].values() for phase in ("latency", "throughput"))
    if busy > 0.25:
        print(f"note: other processes used up to {busy:.2f} of the {m['cores']} cores during the phases (see the "
              f"last column): latencies, p99 above all, are inflated by them; rerun on a quiet machine to judge")
    print(f"\nfigures written to {results['written_to']}")


def _targets_check(results: dict, args: argparse.Namespace) -> list[str]:
    t = results["targets"]
    api, feast = t["API GET /readiness"], t["Feast POST /get-online-features"]
    w = results["websocket"]
    pushed_all = w["updates_received"] == w["values_equal"] == w["updates_written"]
    ahead = api["latency"]["p99_ms"] < feast["latency"]["p99_ms"] and \
        api["throughput"]["req_per_s"] > feast["throughput"]["req_per_s"]
    return [
        f"{_verdict(api['latency']['p99_ms'] <= API_P99_TARGET_MS)}  API p99 <= {API_P99_TARGET_MS:g} ms "
        f"(1 client): {api['latency']['p99_ms']:.2f} ms   [under {args.concurrency} clients: "
        f"{api['throughput']['p99_ms']:.2f} ms]",
        f"{_verdict(ahead)}  API ahead of Feast's server: p99 {api['latency']['p99_ms']:.2f} vs "
        f"{feast['latency']['p99_ms']:.2f} ms, {api['throughput']['req_per_s']:,.0f} vs "
        f"{feast['throughput']['req_per_s']:,.0f} req/s",
        f"{_verdict(w['push_p99_ms'] <= PUSH_P99_TARGET_MS and pushed_all)}  "
        f"WebSocket push p99 <= {PUSH_P99_TARGET_MS:g} ms, every update pushed with the value written: "
        f"{w['push_p99_ms']:.2f} ms, {w['values_equal']}/{w['updates_written']}",
    ]


# --------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict:
    import redis

    _say(f"scoring the corpus (backtest_rows) for {args.pitchers} pitchers")
    data = _rows(args.pitchers, args.updates, args.seed)
    _say(f"{len(data.latest)} online rows ({data.real} real pitchers, {data.synthetic} synthetic), "
         f"{len(data.outing)} outing points, {len(data.updates)} rows for the WebSocket")
    home = Path(tempfile.mkdtemp(prefix="api_bench_"))
    redis_url = _redis_db_url(args.redis_db)
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        with scratch_schema(get_settings().database_url, "api_bench") as database_url:
            settings = get_settings(home=home, feast_env="production", redis_url=redis_url,
                                    database_url=database_url, rate_limit_per_second=10**9)
            client.flushdb()
            _say(f"writing them with Feast into {redis_url} (flushed), registry in {home}")
            _seed(settings, client, data)
            token = _admin_key(database_url)
            servers = [_api_server(settings, home), _feast_server(settings, home)]
            try:
                results = _measure(args, settings, client, data, token, *servers)
            finally:  # before the schema goes: the API's audit log writes its last rows on the way out
                for server in servers:
                    server.stop()
    finally:
        client.flushdb()
        client.close()
        shutil.rmtree(home, ignore_errors=True)
    results["targets_check"] = _targets_check(results, args)
    out = get_settings().home / "bench" / "api_bench.json"
    results["written_to"] = str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    return results


def _admin_key(database_url: str) -> str:
    """An admin key (every pitcher) in the benchmark's schema, which also makes SERVED_VERSION the active one."""
    import psycopg

    from api.keys import KeyStore
    from readiness_platform import deployments

    with psycopg.connect(database_url, autocommit=True) as conn:
        deployments.switch(conn, SERVED_VERSION, action="cutover", decided_by="api_bench",
                           reason="benchmark: the API and Feast's server read the same view", evidence={})
    with KeyStore(database_url) as keys:
        keys.ensure_schema()
        return keys.issue("api-bench", "admin", ttl_days=1).token


def _measure(args: argparse.Namespace, settings: Settings, client, data: Data, token: str,  # noqa: ANN001
             api_srv: Server, feast_srv: Server) -> dict:
    import redis

    for server in (api_srv, feast_srv):
        server.start()
    for server in (api_srv, feast_srv):
        _say(f"{server.name} up on :{server.port} after {server.wait_ready():.1f}s")
    meter = CpuMeter({os.getpid(), int(client.info("server")["process_id"])}, {api_srv.proc.pid, feast_srv.proc.pid})
    expected = {int(r["pitcher_id"]): r for r in data.latest if r["model_version"] == SERVED_VERSION}
    sample = random.Random(args.seed).sample(data.pitchers, min(args.check, len(data.pitchers)))
    correctness = _check(api_srv.port, feast_srv.port, token, expected, sample)
    _say(f"correctness: {len(sample)} sampled pitchers equal to the rows written (API and Feast)")
    feast_body = {p: _feast_body(p) for p in data.pitchers}
    targets = [
        HttpTarget("API GET /readiness", api_srv, lambda p: (
            "GET", f"/api/pitchers/{p}/readiness", None, {"X-API-Key": token})),
        HttpTarget("Feast POST /get-online-features", feast_srv, lambda p: (
            "POST", "/get-online-features", feast_body[p], {"Content-Type": "application/json"})),
        RedisTarget("Redis HGETALL (floor)", redis.Redis.from_url(settings.redis_url, socket_timeout=5),
                    data.pitchers),
    ]
    by_target: dict[str, dict] = {}
    for target in targets:
        _say(f"{target.name}: latency, 1 client, {args.duration:g}s")
        lat = _latency_phase(target, data.pitchers, args.duration, args.warmup, args.seed, meter)
        _say(f"  p50 {lat['p50_ms']:.2f} ms  p99 {lat['p99_ms']:.2f} ms  max {lat['max_ms']:.2f} ms  "
             f"{lat['req_per_s']:,.0f} req/s  (other processes: {lat['other_cpu_cores']:.2f} cores)")
        _say(f"{target.name}: throughput, {args.concurrency} clients, {args.duration:g}s")
        thr = _throughput_phase(target, data.pitchers, args.duration, args.concurrency, args.seed, meter)
        _say(f"  {thr['req_per_s']:,.0f} req/s  p50 {thr['p50_ms']:.2f} ms  p99 {thr['p99_ms']:.2f} ms  "
             f"(other processes: {thr['other_cpu_cores']:.2f} cores)")
        by_target[target.name] = {"latency": lat, "throughput": thr}
    pitches = len({(r["game_pk"], r["at_bat_number"], r["pitch_number"]) for r in data.updates})
    _say(f"websocket: {pitches} updates of pitcher {data.updates[0]['pitcher_id']}, "
         f"one every {args.update_interval * 1000:g} ms")
    ws = _push_latency(api_srv.port, token, settings, client, data.updates, args.update_interval)
    _say(f"  {ws['updates_received']}/{ws['updates_written']} pushed, p50 {ws['push_p50_ms']:.2f} ms  "
         f"p99 {ws['push_p99_ms']:.2f} ms")
    return {
        "at": datetime.now(timezone.utc).isoformat(), "args": vars(args), "machine": _machine(client),
        "data": {"pitchers": len(data.pitchers), "real": data.real, "synthetic": data.synthetic,
                 "online_rows": len(data.latest),
                 "outing_points": sum(r["model_version"] == SERVED_VERSION for r in (*data.outing, *data.latest))},
        "correctness": correctness, "targets": by_target, "websocket": ws,
        "api_server": api_srv.cmd[2:], "feast_server": feast_srv.cmd[1:],
    }


def _quiet_spark_source_warning() -> None:
    """Feast warns that its Spark source is alpha whenever one is built (apply, registry reads): noise here.
    A warnings filter would not hold: importing feast puts simplefilter("once", RuntimeWarning) before it."""
    show = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if not str(message).startswith("The spark data source API is an experimental"):
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase and target")
    parser.add_argument("--concurrency", type=int, default=8, help="clients of the throughput phase")
    parser.add_argument("--pitchers", type=int, default=500, help="pitchers online (beyond the corpus: replicas)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of requests before each latency phase")
    parser.add_argument("--updates", type=int, default=200, help="pitches written during the WebSocket phase")
    parser.add_argument("--update-interval", type=float, default=0.05, help="seconds between those writes")
    parser.add_argument("--check", type=int, default=50, help="pitchers whose served values are checked")
    parser.add_argument("--redis-db", type=int, default=11, help="Redis DB of the benchmark (flushed)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    _quiet_spark_source_warning()
    _print(run(args), args)


if __name__ == "__main__":
    main()
