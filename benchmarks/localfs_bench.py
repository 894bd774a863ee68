"""What creating a file through `file://` costs in Spark's JVM: jvm/localfs's NioLocalFileSystem (what
readiness_platform.spark makes `file://`) against Hadoop's own LocalFileSystem, which forks `chmod` for
each file it creates when Hadoop's native library is missing (as here). A stream creates ~13 files a
micro-batch (offsets, commits, the state stores' changelogs, each with its checksum).

    python -m benchmarks.localfs_bench [--files 300] [--rounds 3]

Prints milliseconds per file created and closed (through py4j, the same overhead on both sides).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from readiness_platform.settings import get_settings
from readiness_platform.spark import build_spark


def per_file_ms(jvm, fs, folder: str, files: int) -> float:  # noqa: ANN001
    path = jvm.org.apache.hadoop.fs.Path
    for i in range(30):  # warm-up
        fs.create(path(f"file://{folder}/warm-{i}"), True).close()
    started = time.perf_counter()
    for i in range(files):
        fs.create(path(f"file://{folder}/f-{i}"), True).close()
    return (time.perf_counter() - started) / files * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        spark = build_spark(get_settings(home=home), "localfs-bench")
        jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
        uri = jvm.java.net.URI("file:///")
        ours = jvm.org.apache.hadoop.fs.FileSystem.newInstance(uri, conf)
        hadoops = jvm.org.apache.hadoop.fs.LocalFileSystem()
        hadoops.initialize(uri, conf)
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                print(f"round {r + 1}: a file created: {ours.getClass().getSimpleName()} "
                      f"{per_file_ms(jvm, ours, a, args.files):.2f} ms, Hadoop's LocalFileSystem "
                      f"{per_file_ms(jvm, hadoops, b, args.files):.2f} ms", flush=True)
        spark.stop()


if __name__ == "__main__":
    main()
