"""Shared fixtures: one local SparkSession per test run, settings rooted in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from readiness_platform import scratch_db
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


def scratch_schema() -> AbstractContextManager[str]:
    """A connection string whose search_path is a new schema of the project's PostgreSQL, dropped after."""
    return scratch_db.scratch_schema(get_settings().database_url, "t")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema of the test's own (tables, triggers and all), dropped after the test."""
    with scratch_schema() as url:
        yield url
