"""The foundation: services the platform starts for itself, and a clear error when set-up is missing."""

from __future__ import annotations

import psycopg
import pytest
import redis

from readiness_platform.domain.errors import SetupError
from readiness_platform.settings import get_settings
from readiness_platform.spark import local_jars


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
