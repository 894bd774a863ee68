"""What PySpark's row-based transformWithState costs around the processor's own code, on this machine: a
trivial processor (reads its value state, writes it back, emits rows of the features' 38 columns) keyed by
`--keys` keys over Spark's rate source, micro-batches of one second. Varying the keys, the state's size and
the rows out splits the state operator's time (Spark's `allUpdatesTimeMs`, summed over its tasks) into a
part per task, per key (call), per state byte and per row - what the pitchers' state pays besides its own
Python (benchmarks/state_bench.py).

    python -m benchmarks.state_overhead [--keys 200] [--state-bytes 12000] [--rows-out 10] [--rate 1000]

Prints the state operator's milliseconds a micro-batch and per call, over the last 15 micro-batches.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime

from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle

from readiness_platform.settings import get_settings
from readiness_platform.spark import build_spark
from readiness_platform.transforms.features import FEATURES_SCHEMA

OUT = T.StructType([T.StructField("key", T.LongType()), *[f for f in FEATURES_SCHEMA.fields if f.name != "pitcher_id"]])
SAMPLE = {T.LongType(): 1, T.DoubleType(): 1.5, T.BooleanType(): True, T.StringType(): "x",
          T.TimestampType(): datetime(2026, 1, 1), T.DateType(): date(2026, 1, 1)}


class Trivial(StatefulProcessor):
    def __init__(self, state_bytes: int, rows_out: int) -> None:
        self.value, self.rows_out = ("x" * state_bytes,), rows_out
        self.row = {f.name: SAMPLE[f.dataType] for f in OUT.fields}

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.state = handle.getValueState("v", T.StructType([T.StructField("json", T.StringType())]))

    def handleInputRows(self, key, rows, timerValues) -> Iterator[Row]:  # noqa: ANN001, N802 - PySpark's name
        n = sum(1 for _ in rows)
        held = self.state.get()
        self.state.update(held if held is not None else self.value)
        for _ in range(min(n, self.rows_out)):
            yield Row(**{**self.row, "key": int(key[0])})

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--state-bytes", type=int, default=12_000, help="the value state's size (a string)")
    parser.add_argument("--rows-out", type=int, default=10, help="rows emitted per call, at most its rows in")
    parser.add_argument("--rate", type=int, default=1000, help="rows a second")
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        spark = build_spark(get_settings(home=home), "state-overhead")
        query = (
            spark.readStream.format("rate").option("rowsPerSecond", args.rate).load()
            .select((F.col("value") % args.keys).alias("key"), F.col("timestamp").alias("t"))
            .withWatermark("t", "5 seconds").groupBy("key")
            .transformWithState(Trivial(args.state_bytes, args.rows_out), OUT, "append", "EventTime")
            .writeStream.format("noop").option("checkpointLocation", f"{home}/checkpoint")
            .trigger(processingTime="1 second").start()
        )
        time.sleep(args.seconds)
        progress = [p for p in query.recentProgress if p.numInputRows > 0][-15:]
        query.stop()
    state_ms = [json.loads(p.json)["stateOperators"][0]["allUpdatesTimeMs"] for p in progress]
    mean = sum(state_ms) / len(state_ms)
    calls = min(args.keys, args.rate)
    print(f"state operator: {args.keys} keys, {args.state_bytes:,} state bytes, up to {args.rows_out} rows out a "
          f"call, {args.rate} rows/s: {mean:.0f} ms a micro-batch, {mean / calls * 1000:.0f} us a call "
          f"({len(progress)} micro-batches)")


if __name__ == "__main__":
    main()
