"""The foundation: services the platform starts for itself, and a clear error when set-up is missing."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import psycopg
import pytest
import redis

from readiness_platform.domain.errors import SetupError
from readiness_platform.settings import REPO_ROOT, get_settings
from readiness_platform.spark import LOCAL_FS_CLASS, local_jars


@pytest.mark.services
def test_postgres_from_the_service_script_answers_on_loopback():
    settings = get_settings()
    assert "127.0.0.1" in settings.database_url
    with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
        version = conn.execute("show server_version").fetchone()[0]
        databases = {r[0] for r in conn.execute("select datname from pg_database")}
    assert version.startswith("15.")
    assert {"readiness", "dagster", "mlflow"} <= databases


@pytest.mark.services
def test_redis_from_the_service_script_answers_on_loopback():
    client = redis.Redis.from_url(get_settings().redis_url, socket_timeout=5)
    assert client.ping()
    assert client.info("server")["redis_version"].startswith("7.")


def test_missing_delta_jars_name_the_setup_command(tmp_path):
    with pytest.raises(SetupError, match="make setup"):
        local_jars(tmp_path)


def test_resolved_jars_are_local_files():
    jars = local_jars(get_settings().jars_dir)
    assert any("delta-spark_4.2_2.13" in j for j in jars)
    assert all(j.endswith(".jar") and not j.startswith("http") for j in jars)


def test_file_uris_go_through_the_local_file_system_of_jvm_localfs(spark, tmp_path):
    """`file://` is NioLocalFileSystem (Hadoop without its native library forks `chmod` for each file it
    creates): a file created gets Hadoop's default mode, and setPermission sets exactly the mode asked for."""
    jvm = spark._jvm
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("file:///"), spark._jsc.hadoopConfiguration())
    assert fs.getClass().getName() == LOCAL_FS_CLASS
    path = jvm.org.apache.hadoop.fs.Path(f"file://{tmp_path}/f")
    fs.create(path, True).close()
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == 0o644  # 0666 less Hadoop's default umask, 022
    assert (tmp_path / ".f.crc").exists()  # still the checksummed file system, as file:// is by default
    for mode in (0o640, 0o600, 0o755, 0o700, 0o444, 0o000, 0o777):
        fs.setPermission(path, jvm.org.apache.hadoop.fs.permission.FsPermission(f"{mode:03o}"))
        assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == mode, oct(mode)


SCRATCH_PROBE = """
import sys, time
from readiness_platform.settings import get_settings
from readiness_platform.spark import build_spark

spark = build_spark(get_settings(), "scratch-probe")
spark.range(200_000).selectExpr("id % 7 as k").groupBy("k").count().collect()  # a shuffle: files in blockmgr-*
dirs = spark.sparkContext._jsc.sc().env().blockManager().diskBlockManager().localDirs()
print("\\n".join(f"local dir: {d.getAbsolutePath()}" for d in dirs), flush=True)
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_spark_scratch_files_stay_under_readiness_home_even_when_the_process_is_killed(tmp_path):
    """Shuffle files (`blockmgr-*`) and the driver JVM's temp files go under READINESS_HOME, not the system
    temp folder: that folder is a sandbox here, and after a kill -9 of Python and its JVM (no shutdown hook
    cleans up) the sandbox is empty and home holds what the process left, where erasure and retention reach it."""
    home, sandbox = tmp_path / "home", tmp_path / "system-tmp"
    sandbox.mkdir()
    # (Python's temp folder stays: Spark's Unix sockets need a short path, spark._socket_dir)
    env = {**os.environ, "READINESS_HOME": str(home), "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={sandbox}"}
    probe = subprocess.Popen([sys.executable, "-c", SCRATCH_PROBE], cwd=REPO_ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        lines = []
        for line in probe.stdout:  # type: ignore[union-attr]
            if line.strip() == "ready":
                break
            if line.startswith("local dir: "):  # the JVM's log shares the probe's stdout
                lines.append(line.strip().removeprefix("local dir: "))
        assert lines, f"the probe ended ({probe.poll()}) before its shuffle"
    finally:
        os.killpg(probe.pid, signal.SIGKILL)  # the probe's own session: Python and the JVM it started
        probe.wait()
    scratch = get_settings(home=home).spark_local_dir
    assert all(path.startswith(f"{scratch}/blockmgr-") for path in lines), lines
    left = list(scratch.glob("blockmgr-*/*/shuffle_*"))
    assert left, "no shuffle file where the killed process left it"
    assert list((scratch / "jvm-tmp").glob("spark-*"))  # the driver's own temp folders, there too
    assert not list(sandbox.iterdir())
