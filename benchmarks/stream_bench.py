"""Benchmark of the readiness stream: event-to-Delta latency (bronze and pitcher_readiness) and throughput.

    python -m benchmarks.stream_bench [--pitchers 25] [--rate 100] [--duration 90] [--warmup 60]
                                      [--throughput-rate 2000] [--only latency|throughput]

Two runs, each on fresh tables with a fresh checkpoint, each after a warm-up: `--warmup` seconds of the
same load on other pitchers, drained, so the JVM has compiled its hot code (a cold micro-batch costs
3-4 s, a warm one ~1 s: a ballpark stream runs for hours, not a minute). Only the load after it counts.
  1. latency: `--pitchers` synthetic pitchers drawn from the real corpus at `--rate` events/s, live,
     through the lag model, into the landing folder; the stream runs back to back. Latency of an event is
     the commit that made it visible - the bronze append, and the pitcher_readiness update of the same
     micro-batch - minus its arrival in the landing folder (ingest_time): the feed's own 2-5 s lag is
     excluded.
  2. throughput: the same at `--throughput-rate` events/s; reports, from 15 s into the load to its end,
     the pitches that arrived and that were committed per second, and the messages still waiting in the
     landing folder when the full-rate load ended (the feed's late tail comes after it). The micro-batches
     grow until each takes what arrived while the previous one ran; the second half of the load shows
     whether they settled (the stream keeps up: committed = arrived, batch growth ~0 % a batch) or not.
Prints the figures; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from readiness_platform.replay.synthetic import SYNTHETIC_GAME_PK
from readiness_platform.report import read_table
from readiness_platform.settings import REPO_ROOT, get_settings


def synthetic_load(landing: Path, pitchers: int, rate: float, duration: float, first_pitcher: int) -> subprocess.Popen:
    """The synthetic pitchers (readiness_platform.replay.synthetic) writing into `landing`, live, as a process."""
    return subprocess.Popen([
        sys.executable, "-m", "readiness_platform.replay.synthetic", str(landing),
        str(get_settings().statcast_dir), str(pitchers), str(rate), str(duration), str(first_pitcher),
    ], cwd=REPO_ROOT)


def _waiting(landing: Path) -> int:
    """Messages in the landing folder that the stream has not taken yet."""
    waiting = 0
    for f in landing.glob("*.jsonl"):
        try:
            waiting += len(f.read_bytes().splitlines())
        except FileNotFoundError:  # taken (archived) by the stream meanwhile
            pass
    return waiting


def _run(home: Path, pitchers: int, rate: float, duration: float, warmup: float) -> dict[str, float]:
    from readiness_platform.lakehouse import ensure_tables
    from readiness_platform.spark import build_spark
    from spark_jobs.stream.main import start_stream

    shutil.rmtree(home, ignore_errors=True)
    settings = get_settings(home=home)
    spark = build_spark(settings, "readiness-bench")
    ensure_tables(spark, settings.tables)
    query = start_stream(spark, settings)
    # Warm-up: the same load for `warmup` s on other pitchers, then drain. A cold JVM (interpreted code,
    # no JIT yet) takes 3-4 s for a micro-batch that costs ~1 s warm; a stream runs for hours.
    if warmup > 0:
        if synthetic_load(settings.landing, pitchers, rate, warmup, first_pitcher=5_000).wait():
            raise SystemExit("the warm-up load failed")
        query.processAllAvailable()
    measured_from = time.time()
    load = synthetic_load(settings.landing, pitchers, rate, duration, first_pitcher=0)
    time.sleep(duration)
    behind = _waiting(Path(settings.landing))  # at the end of the full-rate load (its late tail still to come)
    if load.wait():
        raise SystemExit("the load failed")
    load_end = time.time()
    query.processAllAvailable()
    drained = time.time()
    query.stop()
    bronze = read_table(settings.tables.pitches, ["pitcher_id", "ingest_time", "ingest_batch_id"])
    bronze = bronze[bronze["pitcher_id"] < SYNTHETIC_GAME_PK + 5_000]  # the measured load only
    metrics = read_table(settings.tables.stream_metrics, ["batch_id", "committed_at", "batch_duration_s", "rows_in",
                                                          "readiness_committed_at", "batch_time"])
    metrics = metrics[pd.to_datetime(metrics["batch_time"], utc=True) >= pd.Timestamp(measured_from, unit="s", tz="UTC")]
    rows = bronze.merge(metrics, left_on="ingest_batch_id", right_on="batch_id")
    ingest = pd.to_datetime(rows["ingest_time"], utc=True)
    committed = pd.to_datetime(rows["committed_at"], utc=True)
    rows["latency"] = (committed - ingest).dt.total_seconds()
    rows["readiness_latency"] = (pd.to_datetime(rows["readiness_committed_at"], utc=True) - ingest).dt.total_seconds()
    lat = rows["latency"].to_numpy()
    ready = rows["readiness_latency"].dropna().to_numpy()
    # Throughput while the load is offered at full rate: the feed's lag model delivers its late share long
    # after the load's `duration` (a tail of tens of seconds), so rates are counted in the window from 15 s
    # into the load to its end: pitches that arrived in it, and pitches committed in it. A stream that keeps
    # up commits what arrives; one that falls behind commits less, and its backlog grows.
    start = pd.Timestamp(measured_from + min(15.0, duration / 3), unit="s", tz="UTC")
    end = pd.Timestamp(measured_from + duration, unit="s", tz="UTC")
    seconds = (end - start).total_seconds()
    # Sustained or not: over the second half of the load, once the backlog a micro-batch takes has settled,
    # a stream that keeps up commits what arrives and its micro-batches stop growing (the slope of their
    # size, per batch, relative to their mean); one that falls behind keeps growing them.
    mid = start + (end - start) / 2
    half = (end - mid).total_seconds()
    at = pd.to_datetime(metrics["batch_time"], utc=True)
    late_batches = metrics[(at >= mid) & (at < end)].sort_values("batch_id")
    sizes = late_batches["rows_in"].to_numpy(dtype=float)
    growth = float(np.polyfit(np.arange(len(sizes)), sizes, 1)[0] / sizes.mean()) if len(sizes) > 2 else float("nan")
    return {
        "offered_events_per_s": rate,
        "pitches_committed": float(len(rows)),
        "latency_p50_s": float(np.percentile(lat, 50)),
        "latency_p99_s": float(np.percentile(lat, 99)),
        "latency_max_s": float(lat.max()),
        "readiness_latency_p50_s": float(np.percentile(ready, 50)),
        "readiness_latency_p99_s": float(np.percentile(ready, 99)),
        "pitches_arrived_per_s": float(((ingest >= start) & (ingest < end)).sum() / seconds),
        "pitches_committed_per_s": float(((committed >= start) & (committed < end)).sum() / seconds),
        "2nd_half_pitches_arrived_per_s": float(((ingest >= mid) & (ingest < end)).sum() / half),
        "2nd_half_pitches_committed_per_s": float(((committed >= mid) & (committed < end)).sum() / half),
        "2nd_half_batch_growth_pct": 100 * growth,
        "batch_rows_in_max": float(metrics["rows_in"].max()),
        "messages_waiting_at_load_end": float(behind),
        "drain_after_load_s": drained - load_end,
        "batch_duration_p50_s": float(metrics["batch_duration_s"].median()),
        "batches": float(len(metrics)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pitchers", type=int, default=25)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of load before the measured one")
    parser.add_argument("--throughput-rate", type=float, default=2000.0)
    parser.add_argument("--throughput-pitchers", type=int, default=500,
                        help="pitchers of the throughput run (a real pitcher throws every ~20 s)")
    parser.add_argument("--throughput-duration", type=float, default=90.0)
    parser.add_argument("--only", choices=["latency", "throughput"])
    parser.add_argument("--stages", action="store_true", help="log each micro-batch's stage timings")
    args = parser.parse_args()
    if args.stages:
        logging.basicConfig(format="%(message)s")
        logging.getLogger("readiness.stream").setLevel(logging.DEBUG)
    home = get_settings().home / "bench"
    runs = {}
    if args.only in (None, "latency"):
        runs[f"latency @ {args.rate:g} ev/s"] = _run(home / "latency", args.pitchers, args.rate, args.duration,
                                                      args.warmup)
    if args.only in (None, "throughput"):
        runs[f"throughput @ {args.throughput_rate:g} ev/s"] = _run(
            home / "throughput", args.throughput_pitchers, args.throughput_rate, args.throughput_duration,
            args.warmup)
    print(f"\nstream benchmark (pitches counted; 2 cores, local[2]); latency: {args.pitchers} pitchers, "
          f"throughput: {args.throughput_pitchers} pitchers")
    table = pd.DataFrame(runs)
    with pd.option_context("display.float_format", "{:.2f}".format):
        print(table.to_string())


if __name__ == "__main__":
    main()
