"""Shared fixtures: one local SparkSession per test run, settings rooted in a temporary folder."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from readiness_platform.settings import Settings, get_settings

STATCAST_DIR = get_settings().statcast_dir
GAME_DAY = STATCAST_DIR / "statcast_2020-09-03_all_games__pybaseball.csv"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The one SparkSession of the run (it takes ~10 s to start on two cores)."""
    from readiness_platform.spark import build_spark

    session = build_spark(get_settings(home=tmp_path_factory.mktemp("spark")), "readiness-tests")
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose landing folder, tables and checkpoints live under this test's temporary folder."""
    return get_settings(home=tmp_path)


@pytest.fixture(scope="session")
def scored():  # -> pd.DataFrame
    """Every real pitch of the corpus scored by both versions (the back-test's rows), computed once."""
    from readiness_platform.backtest import backtest_rows

    return backtest_rows(STATCAST_DIR)


@contextmanager
def scratch_schema() -> Iterator[str]:
    """A connection string whose search_path is a new schema of the project's PostgreSQL, dropped after."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    base = get_settings().database_url
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(base, options=f"-csearch_path={name}")
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema of the test's own (tables, triggers and all), dropped after the test."""
    with scratch_schema() as url:
        yield url
