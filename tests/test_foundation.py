"""The foundation: services the platform starts for itself, and a clear error when set-up is missing."""

from __future__ import annotations

import os
import stat

import psycopg
import pytest
import redis

from readiness_platform.domain.errors import SetupError
from readiness_platform.settings import get_settings
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
