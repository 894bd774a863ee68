"""The JVM pitchers' state (jvm/state) answers every micro-batch with the rows of the Python reference
(transforms.features.PitcherFeatures): provisional and final, row for row, on real outings replayed with the
ballpark's lag - overtaking, duplicates, late pitches, a reliever's back-to-back days, timers."""

from __future__ import annotations

import math
import os
import shutil
from collections import Counter

import pytest

from readiness_platform.lakehouse import ensure_tables
from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.replay.statcast import statcast_files
from readiness_platform.transforms.contract import parse_feed
from readiness_platform.transforms.features import FEATURES_SCHEMA
from spark_jobs.baselines.main import corpus_pitches, write_baselines
from spark_jobs.stream.main import branches, load_baselines, read_landing
from tests.conftest import STATCAST_DIR

pytestmark = [pytest.mark.spark, pytest.mark.slow]
NAMES = FEATURES_SCHEMA.fieldNames()
FLOATS = {f.name for f in FEATURES_SCHEMA.fields if f.dataType.typeName() == "double"}


def operator_rows(spark, settings, baselines, processor: str, landing) -> list[tuple[int, tuple]]:  # noqa: ANN001
    """(micro-batch, row) of every row the pitchers' state gave, one landing file per micro-batch (the stream
    archives the files it has read: each processor reads its own copy of the feed)."""
    got: list[tuple[int, tuple]] = []

    def collect(frame, batch_id: int) -> None:  # noqa: ANN001
        rows = frame.where("branch = 'features'").select(*NAMES).collect()
        got.extend((batch_id, tuple(r)) for r in rows)

    raw = read_landing(spark, str(landing), 1)
    query = (branches(parse_feed(raw), settings.watermark_delay_seconds, baselines, processor)
             .writeStream.foreachBatch(collect).trigger(availableNow=True)
             .option("checkpointLocation", str(settings.home / f"checkpoint-{processor}")).start())
    query.awaitTermination(900)
    assert query.exception() is None
    return got


def close(a: tuple, b: tuple) -> bool:
    """Equal, but for the last bit of a float: Python's `x ** 2` is the C library's pow, Java's is x * x."""
    for name, x, y in zip(NAMES, a, b):
        if name in FLOATS and x is not None and y is not None:
            if not (x == y or math.isclose(x, y, rel_tol=1e-15, abs_tol=0.0) or (x != x and y != y)):
                return False
        elif x != y:
            return False
    return True


def test_the_jvm_state_gives_the_python_references_rows_batch_for_batch(spark, settings):
    ensure_tables(spark, settings.tables)
    write_baselines(spark, settings, corpus_pitches(spark, settings))
    baselines = load_baselines(spark, settings.tables)
    # a reliever's season (back-to-back days, quiet pitchers finalized by their timers) and a no-hitter
    files = [f for f in statcast_files(STATCAST_DIR) if f.name.startswith(("duffey", "cease"))]
    plan = replay_plan(files, LagModel(seed=7), environment_every_s=600.0)
    play(plan, LandingFolderSink(settings.landing), speedup=0, per_file=30, log=lambda _: None)
    copy = settings.home / "landing-jvm"
    shutil.copytree(settings.landing, copy)
    for folder in (settings.landing, copy):  # Spark takes files by modification time: one distinct time each,
        for i, f in enumerate(sorted(folder.glob("*.jsonl"))):  # in the order they were written (their names)
            os.utime(f, ns=(1_700_000_000_000_000_000 + i * 10**9,) * 2)

    python = operator_rows(spark, settings, baselines, "python", settings.landing)
    jvm = operator_rows(spark, settings, baselines, "jvm", copy)

    by_batch = {b for b, _ in python} | {b for b, _ in jvm}
    assert len(by_batch) > 20  # many micro-batches, each with its own watermark
    final = NAMES.index("is_final")
    for batch in sorted(by_batch):
        ours = sorted((r for b, r in jvm if b == batch), key=repr)
        theirs = sorted((r for b, r in python if b == batch), key=repr)
        assert len(ours) == len(theirs), batch
        assert all(close(a, b) for a, b in zip(ours, theirs)), batch
    exact = sum(a == b for a, b in zip(sorted(r for _, r in jvm), sorted(r for _, r in python)))
    assert exact >= 0.99 * len(jvm)  # the last-bit exception is rare

    kinds = Counter(r[final] for _, r in jvm)
    pitches = [d for d in plan if d.kind == "pitch" and not d.corruption]
    assert kinds[False] + kinds[True] > len(pitches)  # most pitches twice: provisional, then final
    # a pitcher with no pitch in a micro-batch still gets final rows in it: his timer fired
    pitcher = NAMES.index("pitcher_id")
    arrivals = {(b, r[pitcher]) for b, r in jvm if not r[final]}
    assert any((b, r[pitcher]) not in arrivals for b, r in jvm if r[final])
    # the baselines reached the JVM: velocity z-scores, against the season's 5-pitch noise
    assert sum(1 for _, r in jvm if r[NAMES.index("velo_z")] is not None) > 100

