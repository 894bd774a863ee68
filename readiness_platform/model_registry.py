"""The readiness models in MLflow: each scoring version a pyfunc model, promoted by aliases.

A registered model (`settings.model_name`) holds one version per logged scoring: its parameters (the
index weights), the feature service it reads, back-test metrics on the real corpus, and a signature of
`ScoreInputs` in, indices out. The `champion` alias is what is served; `challenger` what the cutover
evaluates. Readers resolve `models:/<name>@champion` through `AliasCache`, which re-reads the alias
every `model_alias_ttl_seconds` and keeps serving the last good champion when the alias is missing or
points at a model whose signature does not match the feature service (with the error kept for /readyz).
Moving an alias is one registry call; who, when and why are tags on the model version.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from readiness_platform.domain.errors import ReadinessError
from readiness_platform.domain.scores import (
    FATIGUE_WEIGHTS,
    MODEL_VERSIONS,
    READINESS_FROM,
    RISK_WEIGHTS,
    ScoreInputs,
    score,
)
from readiness_platform.episode_frames import pitcher_episodes
from readiness_platform.refresh import Refreshed
from readiness_platform.settings import Settings

log = logging.getLogger("readiness.models")
CHAMPION, CHALLENGER = "champion", "challenger"
INPUT_COLUMNS = [f.name for f in fields(ScoreInputs)]
OUTPUT_COLUMNS = ["readiness", "fatigue", "risk", "data_confidence"]
EXPERIMENT = "readiness-models"
_mlflow_lock = threading.Lock()  # MLflow's fluent API is process-global: one registration at a time


class ModelRegistryError(ReadinessError):
    """Root of the registry's errors."""


class UnknownAlias(ModelRegistryError):
    def __init__(self, name: str, alias: str) -> None:
        super().__init__(f"registered model {name!r} has no alias {alias!r}: register a version and promote it "
                         "(Dagster `v2_cutover`, or `readiness models promote`)")


class SignatureMismatch(ModelRegistryError):
    def __init__(self, name: str, version: str, why: str) -> None:
        super().__init__(f"model {name} version {version} cannot be served: {why}. The previous champion keeps "
                         "serving; register a model logged with readiness_platform.model_registry")


def feature_service(scoring_version: str) -> str:
    return f"readiness_{scoring_version}"


def predict(scoring_version: str, inputs: pd.DataFrame) -> pd.DataFrame:
    """The indices of each row of `inputs` (missing values as None, as ScoreInputs takes them)."""
    missing = [c for c in INPUT_COLUMNS if c not in inputs.columns]
    if missing:
        raise SignatureMismatch("input", scoring_version, f"columns missing: {', '.join(missing)}")
    out = []
    for r in inputs[INPUT_COLUMNS].astype(object).where(inputs[INPUT_COLUMNS].notna(), None).to_dict("records"):
        s = score(ScoreInputs(**r), scoring_version)
        out.append((s.readiness, s.fatigue, s.risk, s.data_confidence))
    return pd.DataFrame(out, columns=OUTPUT_COLUMNS, index=inputs.index)


def example_inputs(rows: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """`ScoreInputs` columns from scored feature rows (pitch_features) - the model's input example."""
    frame = pd.DataFrame({
        "velo_z": rows["velo_z"], "velo_window_full": rows["fb_window_full"], "spin_cv": rows["spin_cv"],
        "spin_cv_typical": rows["spin_cv"].median(), "spin_window_full": rows["spin_window_full"],
        "release_sd": rows["release_height_sd_ft"], "release_sd_typical": rows["release_height_sd_ft"].median(),
        "release_window_full": rows["release_window_full"], "break_delta_in": rows["break_delta_in"],
        "pitch_count_game": rows["pitch_count_game"], "pitches_last_3d": rows["pitches_last_3d"],
        "days_since_prev_outing": rows["days_since_prev_outing"], "back_to_back": rows["back_to_back"],
        "third_straight_day": rows["third_straight_day"], "calibration_confidence": rows["calibration_confidence"],
        "late_fraction": rows["late_fraction"],
        # the pitcher's own norms (v2n) are baseline values, not feature columns: their upper ends here
        "spin_cv_high": rows["spin_cv"].quantile(0.9), "release_sd_high": rows["release_height_sd_ft"].quantile(0.9),
        "typical_outing_pitches": rows.groupby(["pitcher_id", "game_pk"])["pitch_count_game"].max().median(),
    })[INPUT_COLUMNS]
    return frame.head(n).astype({c: "float64" for c in ("velo_z", "spin_cv", "release_sd", "break_delta_in",
                                                        "days_since_prev_outing", "spin_cv_typical",
                                                        "release_sd_typical", "spin_cv_high", "release_sd_high",
                                                        "typical_outing_pitches")})


def backtest_metrics(scored: pd.DataFrame, scoring_version: str, previous: str | None) -> dict[str, float]:
    """Metrics of a version on scored rows of the corpus (silver pitch_features or backtest_rows)."""
    mine = scored[scored["model_version"] == scoring_version]
    games = mine.groupby(["pitcher_id", "game_pk"])["alert_level"].agg(lambda a: (a != "ok").any())
    metrics = {
        "pitches": float(len(mine)),
        "pitcher_games": float(len(games)),
        "alert_rate_per_game": float(games.mean()) if len(games) else 0.0,
        # what a staff is told: episodes (opened once, closed after a clear stretch), not alerting pitches
        "alert_episodes_per_pitcher_game": float(len(pitcher_episodes(mine)) / len(games)) if len(games) else 0.0,
        "coverage": float(mine["readiness"].notna().mean()) if len(mine) else 0.0,
    }
    if previous and previous != scoring_version:
        key = ["game_pk", "at_bat_number", "pitch_number"]
        both = mine.merge(scored[scored["model_version"] == previous], on=key, suffixes=("", "_prev"))
        metrics["agreement_with_previous"] = float((both["alert_level"] == both["alert_level_prev"]).mean())
        metrics["readiness_mae_vs_previous"] = float((both["readiness"] - both["readiness_prev"]).abs().mean())
    sample = example_inputs(mine, n=2000)
    started = time.perf_counter()
    predict(scoring_version, sample)
    metrics["latency_per_pitch_ms"] = 1000 * (time.perf_counter() - started) / max(len(sample), 1)
    return metrics


@contextmanager
def fluent(uri: str) -> Iterator[None]:
    """MLflow's fluent API (log_model needs it) pointed at `uri` for the block, one user at a time.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI, which the platform's settings read: it is
    put back afterwards, so one registration does not repoint every later reader of the process.
    """
    import mlflow

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    with _mlflow_lock:
        saved = {k: os.environ.get(k) for k in names}
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@dataclass(frozen=True)
class Served:
    """A registered model version as readers use it."""

    name: str
    version: str  # the registry's version number
    scoring_version: str  # v1, v2, ...: the model_version column of the rows it scores
    feature_service: str
    alias: str | None = None


class Registry:
    """The registered readiness model in the settings' MLflow store."""

    def __init__(self, settings: Settings) -> None:
        from mlflow import MlflowClient

        self.settings = settings
        self.name = settings.model_name
        self.client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)

    def register(self, scoring_version: str, metrics: dict[str, float], inputs: pd.DataFrame, *,
                 by: str, reason: str) -> Served:
        """Log `scoring_version` as a pyfunc model with its parameters and metrics; a new registry version."""
        import mlflow
        from mlflow.models import infer_signature

        from readiness_platform.readiness_model import ReadinessModel

        if scoring_version not in MODEL_VERSIONS:
            raise ModelRegistryError(f"unknown scoring version {scoring_version!r} (known: {', '.join(MODEL_VERSIONS)})")
        model = ReadinessModel(scoring_version)
        with fluent(self.settings.mlflow_uri):
            if mlflow.get_experiment_by_name(EXPERIMENT) is None:
                mlflow.create_experiment(EXPERIMENT, artifact_location=self.settings.mlflow_artifacts)
            mlflow.set_experiment(EXPERIMENT)
            with mlflow.start_run(run_name=f"{scoring_version} {datetime.now(timezone.utc):%Y-%m-%d %H:%M}"):
                mlflow.log_params({"scoring_version": scoring_version, "feature_service": feature_service(scoring_version),
                                   **{f"fatigue.{k}": v for k, v in FATIGUE_WEIGHTS.items()},
                                   **{f"risk.{k}": v for k, v in RISK_WEIGHTS.items()},
                                   **{f"readiness.{k}": v for k, v in READINESS_FROM.items()}})
                mlflow.log_metrics(metrics)
                mlflow.set_tags({"registered_by": by, "reason": reason})
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=model, input_example=inputs,
                    signature=infer_signature(inputs, predict(scoring_version, inputs)),
                    registered_model_name=self.name,
                )
        version = str(info.registered_model_version)
        for k, v in {"scoring_version": scoring_version, "feature_service": feature_service(scoring_version),
                     "registered_by": by, "reason": reason}.items():
            self.client.set_model_version_tag(self.name, version, k, v)
        return Served(self.name, version, scoring_version, feature_service(scoring_version))

    def resolve(self, alias: str) -> Served:
        """The version behind `alias`, checked servable (UnknownAlias, SignatureMismatch)."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException as e:
            raise UnknownAlias(self.name, alias) from e
        return self._servable(mv, alias)

    def _servable(self, mv, alias: str | None) -> Served:  # noqa: ANN001
        from mlflow.models import get_model_info

        scoring = mv.tags.get("scoring_version")
        if scoring not in MODEL_VERSIONS:
            raise SignatureMismatch(self.name, mv.version, f"scoring version {scoring!r} is not one of "
                                    f"{', '.join(MODEL_VERSIONS)}")
        if mv.tags.get("feature_service") != feature_service(scoring):
            raise SignatureMismatch(self.name, mv.version, f"it reads feature service {mv.tags.get('feature_service')!r}, "
                                    f"not {feature_service(scoring)!r}")
        signature = get_model_info(f"models:/{self.name}/{mv.version}").signature
        columns = signature.inputs.input_names() if signature else []
        if columns != INPUT_COLUMNS:
            raise SignatureMismatch(self.name, mv.version, f"its inputs are {columns}, the feature service gives "
                                    f"{INPUT_COLUMNS}")
        return Served(self.name, str(mv.version), scoring, mv.tags["feature_service"], alias)

    def promote(self, version: str, alias: str, *, by: str, reason: str) -> Served | None:
        """Point `alias` at `version` (checked servable first); the version it pointed at before, if any."""
        target = self._servable(self.client.get_model_version(self.name, version), alias)
        try:
            before = self.resolve(alias)
        except ModelRegistryError:
            before = None
        self.client.set_registered_model_alias(self.name, alias, version)
        at = datetime.now(timezone.utc).isoformat()
        for k, v in {f"{alias}_since": at, f"{alias}_by": by, f"{alias}_reason": reason,
                     f"{alias}_replaced": before.version if before else ""}.items():
            self.client.set_model_version_tag(self.name, version, k, v)
        log.info("%s@%s: %s -> %s (%s, %s)", self.name, alias, before.version if before else None, version, by, reason)
        return target if before is None else before

    def rollback(self, *, by: str, reason: str) -> Served:
        """Point `champion` back at the version it replaced (the `champion_replaced` tag of the current one)."""
        current = self.resolve(CHAMPION)
        replaced = self.client.get_model_version(self.name, current.version).tags.get("champion_replaced")
        if not replaced:
            raise ModelRegistryError(f"{self.name}@champion (version {current.version}) replaced no earlier "
                                     "version: nothing to roll back to; promote a version instead")
        earlier = self.client.get_model_version(self.name, replaced).tags.get("champion_replaced", "")
        self.promote(replaced, CHAMPION, by=by, reason=reason)
        # the chain goes on backwards: a second rollback goes to what `replaced` had replaced, not forward again
        self.client.set_model_version_tag(self.name, replaced, "champion_replaced", earlier)
        return self.resolve(CHAMPION)

    def report(self) -> list[dict]:
        """Every version with its aliases, who registered it and why, and its back-test metrics."""
        out = []
        aliases = self.client.get_registered_model(self.name).aliases  # search results leave them out
        for mv in sorted(self.client.search_model_versions(f"name = '{self.name}'"), key=lambda m: int(m.version)):
            metrics = self.client.get_run(mv.run_id).data.metrics if mv.run_id else {}
            out.append({"version": str(mv.version),
                        "aliases": sorted(a for a, v in aliases.items() if str(v) == str(mv.version)),
                        "scoring_version": mv.tags.get("scoring_version", "?"),
                        "registered": datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc),
                        "registered_by": mv.tags.get("registered_by", ""), "reason": mv.tags.get("reason", ""),
                        "metrics": metrics})
        return out

    def versions(self) -> list[Served]:
        out = []
        for mv in self.client.search_model_versions(f"name = '{self.name}'"):
            scoring = mv.tags.get("scoring_version", "?")
            out.append(Served(self.name, str(mv.version), scoring, mv.tags.get("feature_service", "?")))
        return sorted(out, key=lambda s: int(s.version))


class AliasCache:
    """`models:/<name>@<alias>` for readers: re-resolved in the background every ttl (a request or a
    micro-batch costs a lookup; an alias change shows within ttl plus one registry round trip), the last
    good version kept when the alias is missing, not servable or the registry unreachable. With `wait`, a
    stale alias is re-read before `get` returns: never older than ttl (the stream, once per micro-batch)."""

    def __init__(self, settings: Settings, alias: str = CHAMPION, wait: bool = False) -> None:
        self.settings, self.alias = settings, alias
        self.error: str | None = None
        self._served: Served | None = None
        self._cache = Refreshed(self.refresh, settings.model_alias_ttl_seconds, wait)

    def refresh(self) -> Served | None:
        """Resolve the alias now (keeping the last good version if it cannot be served)."""
        try:
            if self.settings.mlflow_uri.startswith("sqlite:///") and not Path(
                    self.settings.mlflow_uri.removeprefix("sqlite:///")).exists():
                raise UnknownAlias(self.settings.model_name, self.alias)  # no registry yet: do not create one
            self._served, self.error = Registry(self.settings).resolve(self.alias), None
        except ModelRegistryError as e:
            self._failed(f"{self.alias} alias not usable: {e}")
        except Exception as e:  # noqa: BLE001 - the registry unreachable: keep the last good one
            self._failed(f"model registry unreachable: {type(e).__name__}: {e}")
        return self._served

    def _failed(self, error: str) -> None:
        if error != self.error:  # logged when it starts or changes, not at every re-read
            log.warning(error)
        self.error = error

    def get(self) -> Served | None:
        return self._cache.get()


class ServedBy:
    """Which registered model version produces the rows of each scoring version, as the stream stamps
    them: the `champion`'s scoring version is produced by the champion, another version by the
    `challenger` when it holds that one. A version neither alias holds is unstamped (None): computed
    side by side for the comparison, produced by no registered model. An alias move shows in the first
    micro-batch that starts `model_alias_ttl_seconds` after it."""

    def __init__(self, settings: Settings) -> None:
        self.champion = AliasCache(settings, CHAMPION, wait=True)
        self.challenger = AliasCache(settings, CHALLENGER, wait=True)

    def stamps(self) -> dict[str, str]:
        """{scoring version: "<name>/<registry version>"} now."""
        out = {}
        for served in (self.challenger.get(), self.champion.get()):  # the champion wins a shared version
            if served is not None:
                out[served.scoring_version] = f"{served.name}/{served.version}"
        return out
