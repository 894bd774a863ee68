"""The readiness scoring as an MLflow pyfunc model (imported only where MLflow is wanted: it is slow to load)."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from readiness_platform.model_registry import predict


class ReadinessModel(mlflow.pyfunc.PythonModel):
    """`ScoreInputs` columns in; readiness, fatigue, risk and data confidence out, under one scoring version."""

    def __init__(self, scoring_version: str) -> None:
        self.scoring_version = scoring_version

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # noqa: ANN001
        return predict(self.scoring_version, model_input)
