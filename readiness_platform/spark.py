"""The one way the platform starts Spark: local jars from .jars/, Delta, RocksDB state, UTC everywhere, and
its scratch files under READINESS_HOME (settings.spark_local_dir)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from readiness_platform.domain.errors import SetupError
from readiness_platform.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOCAL_FS_JAR = "readiness-localfs.jar"  # jvm/localfs, built by `make setup`
LOCAL_FS_CLASS = "dev.readiness.fs.NioLocalFileSystem"
STATE_JAR = "readiness-state.jar"  # jvm/state: the stream's pitchers' state (transforms.features)
REQUIRED_JARS = ("delta-spark_4.2_2.13-", "delta-storage-", LOCAL_FS_JAR, STATE_JAR)
JVM_TMP = "jvm-tmp"  # the driver JVM's java.io.tmpdir, in settings.spark_local_dir


def local_jars(jars_dir: Path) -> list[str]:
    """The jars `make setup` resolved, for spark.jars; a clear error naming the fix when they, or the local
    file system's jar it builds (which goes on the class path instead, see build_spark), are not there."""
    jars = sorted(str(p) for p in Path(jars_dir).glob("*.jar"))
    missing = [prefix for prefix in REQUIRED_JARS if not any(Path(j).name.startswith(prefix) for j in jars)]
    if missing:
        raise SetupError(
            f"Spark's jars are missing from {jars_dir} ({', '.join(p.removesuffix('.jar') + '*.jar' for p in missing)}): "
            "run `make setup` (bash scripts/setup.sh) to resolve them from Maven Central and build jvm/localfs and jvm/state."
        )
    return [j for j in jars if Path(j).name != LOCAL_FS_JAR]


@functools.cache
def _socket_dir() -> str:
    """A directory only this user can enter, for the Unix sockets between Spark and its Python workers
    (they carry no secret: the directory is their access control). Short: a socket path has ~100 bytes."""
    path = tempfile.mkdtemp(prefix="readiness-uds-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def checkpoint_file_manager(checkpoints: str) -> str | None:
    """How streams write their checkpoint files. On a local disk, through Hadoop's FileSystem: a rename
    there is atomic too, and each file costs ~10 ms instead of ~40 ms through FileContext (Spark's default,
    which writes checksum files beside): measured per micro-batch, offsets, commits and the state stores'
    changelogs went from ~200 ms to ~25 ms. Anywhere else (s3a://, hdfs://), Spark's own choice (None)."""
    if "://" in checkpoints and not checkpoints.startswith("file:"):
        return None
    return "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"


def build_spark(settings: Settings, app_name: str = "readiness"):  # -> pyspark.sql.SparkSession
    """A SparkSession configured for the platform (reuses the active one if already started)."""
    from pyspark.sql import SparkSession

    # Python workers must run this interpreter, or they start without the project's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # PySpark hands timestamps to Python in the process's local zone: make that UTC, like the session,
    # so a collected event time is the UTC time the tables hold.
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    jars = local_jars(settings.jars_dir)
    (settings.spark_local_dir / JVM_TMP).mkdir(parents=True, exist_ok=True)
    local_fs = str(Path(settings.jars_dir) / LOCAL_FS_JAR)
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.spark_master)
        .config("spark.jars", ",".join(jars))
        # `file://` without a forked `chmod` per file created (jvm/localfs: Hadoop has no native library here).
        # A stream creates ~13 files a micro-batch (offsets, commits, state changelogs, their checksums),
        # each 7-10 ms with the fork, 0.6-2.7 ms without (benchmarks/localfs_bench.py). On the class path
        # from the JVM's start: spark-submit reads `file://` before it loads spark.jars.
        .config("spark.driver.extraClassPath", local_fs)
        .config("spark.executor.extraClassPath", local_fs)
        .config("spark.hadoop.fs.file.impl", LOCAL_FS_CLASS)
        # The JVM and its Python workers (UDFs, the pitchers' state and its state calls) talk over Unix
        # sockets instead of TCP on loopback (+3-7 % messages a second on a backlog, within run-to-run noise).
        .config("spark.python.unix.domain.socket.enabled", "true")
        .config("spark.python.unix.domain.socket.dir", _socket_dir())
        .config("spark.driver.memory", settings.spark_driver_memory)
        # Shuffle, spill and state working files under READINESS_HOME, not the system temp folder, where a
        # killed process left its `blockmgr-*` folders out of erasure's and retention's reach. A cluster
        # manager's own local directories (SPARK_LOCAL_DIRS, YARN's, Kubernetes' volumes) still win there.
        .config("spark.local.dir", str(settings.spark_local_dir))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.default.parallelism", str(settings.spark_shuffle_partitions))
        # Small tables, small machine: Delta's log replay in 50 partitions costs more than it saves.
        .config("spark.databricks.delta.snapshotPartitions", str(settings.spark_shuffle_partitions))
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        .config("spark.ui.enabled", str(settings.spark_ui).lower())
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Batches to Python workers are bounded by records (maxRecordsPerBatch, 10,000); a bound in bytes made
        # the JVM measure the batch after every row (JFR: 11 % of the executor threads' samples).
        .config("spark.sql.execution.arrow.maxBytesPerBatch", str(2**31 - 1))
        # The landing source hands each micro-batch its files by name; past 32 of them Spark listed them in
        # a Spark job of one task per file (~0.5 s a micro-batch, measured: `getBatch` in its progress).
        # The driver stats them itself now: getBatch ~0 ms for 300 local files.
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "1000000")
        # The driver's own temp files too (spark-*, artifacts-* folders, native libraries it unpacks).
        .config("spark.driver.extraJavaOptions",
                f'-Dlog4j2.level=WARN "-Djava.io.tmpdir={settings.spark_local_dir / JVM_TMP}"')
    )
    manager = checkpoint_file_manager(settings.checkpoints)
    if manager:
        builder = builder.config("spark.sql.streaming.checkpointFileManagerClass", manager)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def hadoop_fs(spark, path: str):  # noqa: ANN001, ANN201 - (Hadoop FileSystem, Path): works for s3a:// too
    """The Hadoop FileSystem of `path` and its Path, through the session's JVM."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


@contextmanager
def session_conf(spark: SparkSession, conf: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) session configuration for the block; the previous values come back."""
    before = {k: spark.conf.get(k, None) for k in conf}
    try:
        _set_conf(spark, conf)
        yield
    finally:
        _set_conf(spark, before)


def _set_conf(spark: SparkSession, conf: dict[str, str | None]) -> None:
    for k, v in conf.items():
        if v is None:
            spark.conf.unset(k)
        else:
            spark.conf.set(k, v)
