"""The main job on embedded defaults: a real game day replayed through the platform, start to finish.

    readiness demo            (what `make demo` runs)

It seeds the seasonal baselines from the real seasons (batch), starts the readiness stream on a local
Spark, replays the real Statcast file of 2020-09-03 (8 games, 2,507 pitches) into the landing folder with
the ballpark's lag model, waits until the stream has taken everything in, then prints what landed where -
bronze, quarantine, features, each pitcher's readiness - and writes a report page with the stream's figures.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.settings import Settings

DEMO_FILE = "statcast_2020-09-03_all_games__pybaseball.csv"


def run_demo(settings: Settings, speedup: float = 120.0, fresh: bool = True, files: list[Path] | None = None) -> Path:
    """Replay, stream, summarize; returns the report page."""
    from readiness_platform.spark import build_spark
    from spark_jobs.baselines.main import corpus_pitches, write_baselines
    from spark_jobs.stream.main import start_stream

    if fresh:
        landing_archive = Path(f"{settings.landing}.archive")
        for path in (settings.landing, landing_archive, Path(settings.tables.root), Path(settings.checkpoints)):
            shutil.rmtree(path, ignore_errors=True)
    files = files or [settings.statcast_dir / DEMO_FILE]
    lag = LagModel(watermark_delay_s=settings.watermark_delay_seconds)
    plan = replay_plan(files, lag)
    print(f"demo: {len(plan)} messages planned from {', '.join(p.name for p in files)}; starting Spark", flush=True)
    spark = build_spark(settings, "readiness-demo")
    print("demo: seasonal baselines from the real seasons", flush=True)
    write_baselines(spark, settings, corpus_pitches(spark, settings))
    query = start_stream(spark, settings)
    replay = threading.Thread(
        target=play, args=(plan, LandingFolderSink(settings.landing)), kwargs={"speedup": speedup}, daemon=True
    )
    started = time.monotonic()
    replay.start()
    replay.join()
    query.processAllAvailable()
    query.stop()
    print(f"demo: replay and stream done in {time.monotonic() - started:.0f} s", flush=True)
    from readiness_platform.report import stream_report

    return stream_report(settings, Path(settings.home) / "reports" / "stream.html")
