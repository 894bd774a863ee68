"""Capacity of the readiness stream: how many messages a second it drains from a backlog.

    python -m benchmarks.stream_capacity [--pitchers 500] [--rate 2000] [--seconds 80] [--files-per-batch 70]
                                         [--warmup-files 150] [--runs 1]

A steadier measure than the live benchmark's committed rate (which moves with where the micro-batches fall
in the counted span): the same input every run, in micro-batches of the same size.
  1. The backlog: `--seconds` of the synthetic load (`--pitchers` drawn from the real corpus at `--rate`
     events/s, through the lag model), written once in real time by readiness_platform.replay.synthetic
     and kept under <home>/bench/capacity/backlog-<pitchers>-<rate>-<seconds> for later runs.
  2. Each run: fresh tables and checkpoint; the stream takes the first `--warmup-files` files (the JVM's
     warm-up, not counted), then the rest is put in the landing folder at once and drained in micro-batches
     of `--files-per-batch` files (`maxFilesPerTrigger`). Capacity = messages of the rest / time to drain.
     Runs after the first share the first one's JVM, warmer still (2,145 then 2,355 messages/s, measured):
     compare first runs with first runs.
Prints the figures; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from benchmarks.stream_bench import synthetic_load
from readiness_platform.settings import get_settings


def backlog(folder: Path, pitchers: int, rate: float, seconds: float) -> list[Path]:
    """The backlog's files in landing order, written first if the folder is not complete."""
    done = folder / "_complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        print(f"capacity: writing the backlog ({seconds:g} s of {pitchers} pitchers at {rate:g} events/s)", flush=True)
        if synthetic_load(folder, pitchers, rate, seconds, first_pitcher=0).wait():
            raise SystemExit("the synthetic load that writes the backlog failed")
        done.touch()
    return sorted(folder.glob("*.jsonl"))


def _move_in(files: list[Path], landing: Path, staging: Path) -> None:
    """Copy the files to the landing folder atomically (copy aside, then rename), as the replay writes."""
    for f in files:
        shutil.copy(f, staging / f.name)
    for f in files:
        os.rename(staging / f.name, landing / f.name)


def run(home: Path, files: list[Path], files_per_batch: int, warmup_files: int) -> dict[str, float]:
    from readiness_platform.lakehouse import ensure_tables
    from readiness_platform.spark import build_spark
    from spark_jobs.stream.main import start_stream

    shutil.rmtree(home, ignore_errors=True)
    settings = get_settings(home=home, max_files_per_trigger=files_per_batch)
    spark = build_spark(settings, "readiness-capacity")
    ensure_tables(spark, settings.tables)
    landing, staging = Path(settings.landing), home / "staging"
    landing.mkdir(parents=True, exist_ok=True)
    staging.mkdir(parents=True, exist_ok=True)
    query = start_stream(spark, settings)
    warm, rest = files[:warmup_files], files[warmup_files:]
    _move_in(warm, landing, staging)
    query.processAllAvailable()
    first = query.lastProgress["batchId"] if query.lastProgress else -1
    messages = sum(len(f.read_bytes().splitlines()) for f in rest)
    _move_in(rest, landing, staging)
    started = time.time()
    query.processAllAvailable()
    seconds = time.time() - started
    batches = query.lastProgress["batchId"] - first
    query.stop()
    return {"messages": messages, "seconds": seconds, "messages_per_s": messages / seconds, "batches": batches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pitchers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=80.0, help="seconds of load in the backlog")
    parser.add_argument("--files-per-batch", type=int, default=70, help="landing files per micro-batch")
    parser.add_argument("--warmup-files", type=int, default=150)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    home = get_settings().home / "bench" / "capacity"
    files = backlog(home / f"backlog-{args.pitchers}-{args.rate:g}-{args.seconds:g}", args.pitchers, args.rate,
                    args.seconds)
    if len(files) <= args.warmup_files:
        raise SystemExit(f"the backlog has {len(files)} files, not more than --warmup-files {args.warmup_files}")
    for i in range(args.runs):
        r = run(home / "run", files, args.files_per_batch, args.warmup_files)
        print(f"capacity run {i + 1}: {r['messages']:,} messages drained in {r['seconds']:.1f} s, "
              f"{r['batches']} micro-batches of {args.files_per_batch} files: {r['messages_per_s']:,.0f} messages/s",
              flush=True)


if __name__ == "__main__":
    main()
