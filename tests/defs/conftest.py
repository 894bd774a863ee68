"""Fixtures of the orchestration tests."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import STATCAST_DIR


@pytest.fixture(scope="session")
def scored() -> pd.DataFrame:
    """Every real pitch of the corpus scored by both versions (the back-test's rows), computed once."""
    from readiness_platform.backtest import backtest_rows

    return backtest_rows(STATCAST_DIR)
