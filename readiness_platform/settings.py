"""One settings model for every adapter; read from the environment by `get_settings()`, never at import.

Names follow the deployment's environment variables: `READINESS_*` for the platform's own settings and
the conventional `DATABASE_URL`, `REDIS_URL` for shared services. Locations are URIs or paths, so the
same job writes to a local folder here and to `s3a://...` on a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_TOPIC_SUFFIXES = {"pitch": "pitches", "environment": "environment", "calibration": "calibration"}


@dataclass(frozen=True)
class Tables:
    """Where each Delta table of the lakehouse lives."""

    root: str

    def path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    @property
    def pitches(self) -> str:
        """Bronze: every valid pitch exactly once, late ones flagged."""
        return self.path("pitches")

    @property
    def environment_readings(self) -> str:
        return self.path("environment_readings")

    @property
    def calibration_events(self) -> str:
        return self.path("calibration_events")

    @property
    def quarantine(self) -> str:
        """Every message that failed the contract, with its raw payload and the reason."""
        return self.path("quarantine")

    @property
    def stream_metrics(self) -> str:
        return self.path("stream_metrics")

    @property
    def pitch_features(self) -> str:
        """Silver: final features and indices, one row per pitch per model version."""
        return self.path("pitch_features")

    @property
    def pitcher_readiness(self) -> str:
        """Gold: the latest readiness of each pitcher per model version."""
        return self.path("pitcher_readiness")

    @property
    def seasonal_baselines(self) -> str:
        return self.path("seasonal_baselines")

    @property
    def feature_qa(self) -> str:
        """One row per quality-gate run: feature QA share and failures."""
        return self.path("feature_qa")


class Settings(BaseSettings):
    """The platform's settings; defaults run everything embedded on one machine."""

    model_config = SettingsConfigDict(env_prefix="READINESS_", extra="ignore")

    home: Path = Field(REPO_ROOT / "var", description="Root of local state: landing, lakehouse, checkpoints.")
    statcast_dir: Path = Field(REPO_ROOT.parent / "shared" / "data" / "statcast",
                               description="The real Statcast CSVs the replay reads.")
    jars_dir: Path = Field(REPO_ROOT / ".jars", description="JVM jars resolved by `make setup`.")
    lakehouse_uri: str | None = Field(None, description="Root of the Delta tables (default: <home>/lakehouse).")
    checkpoint_uri: str | None = Field(None, description="Root of stream checkpoints (default: <home>/checkpoints).")
    landing_dir: Path | None = Field(None, description="The feed's landing folder (default: <home>/landing).")

    spark_master: str = Field("local[2]", description="Spark master URL.")
    spark_shuffle_partitions: int = Field(2, ge=1, description="Also the number of state partitions.")
    spark_driver_memory: str = Field("2g", description="Driver memory (local mode runs everything in it).")
    spark_ui: bool = Field(False, description="Start the Spark UI (port 4040).")

    watermark_delay_seconds: float = Field(7.0, gt=0, description="Event-time watermark delay of the streams.")
    trigger_interval_seconds: float = Field(0.0, ge=0, description="Micro-batch trigger; 0 = back to back.")
    max_files_per_trigger: int | None = Field(None, ge=1, description="Cap on landing files per micro-batch.")
    state_processor: Literal["jvm", "python"] = Field(
        "jvm", description="Where the stream keeps the pitchers' state: the JVM processor (jvm/state, keyed by "
        "pitcher) or the Python reference (transforms.features.PitcherFeatures, keyed by pitcher group). Each "
        "checkpoint is bound to the one it started with.")

    stream_source: Literal["landing", "kafka"] = Field(
        "landing", description="Where the stream reads the feed: the landing folder or the Kafka topics.")
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:59092", description="Kafka brokers, host:port[,...] (scripts/services.sh runs one on loopback).")
    kafka_topic_prefix: str = Field(
        "readiness", description="The feed's topics are <prefix>.pitches, <prefix>.environment, <prefix>.calibration.")
    kafka_partitions: int = Field(
        1, ge=1, description="Partitions of each topic the platform creates (keyed by game). One on a single "
        "broker at a ballpark: each partition is a Spark task per branch of every micro-batch (measured: p99 "
        "2.3 s at 1, 3.3 s at 3); the Helm chart sets 3.")
    kafka_replication_factor: int = Field(1, ge=1, description="Replicas of each topic the platform creates.")
    kafka_starting_offsets: str = Field(
        "earliest", description="Where a new checkpoint starts reading (Spark's startingOffsets: earliest, latest "
        "or per-partition JSON); a restarted stream resumes from the offsets in its checkpoint.")
    kafka_max_offsets_per_trigger: int | None = Field(
        None, ge=1, description="Cap on Kafka records per micro-batch, over all topic partitions.")

    database_url: str = Field(
        "postgresql://readiness:readiness@127.0.0.1:55432/readiness",
        validation_alias=AliasChoices("DATABASE_URL", "READINESS_DATABASE_URL"),
    )
    redis_url: str = Field(
        "redis://127.0.0.1:56379/0", validation_alias=AliasChoices("REDIS_URL", "READINESS_REDIS_URL")
    )

    feast_env: Literal["local", "production"] = Field(
        "local", description="Feast environment (feature_repo/feature_store.<env>.yaml): local = SQLite "
        "online store, production = Redis at REDIS_URL.")
    publish_online: bool = Field(True, description="The stream pushes each pitcher's latest row to Feast.")
    api_host: str = Field("127.0.0.1", validation_alias=AliasChoices("API_HOST", "READINESS_API_HOST"))
    api_port: int = Field(8000, validation_alias=AliasChoices("API_PORT", "READINESS_API_PORT"))
    cors_origins: str = Field("", description="Comma-separated origins allowed to call the API from a browser.",
                              validation_alias=AliasChoices("CORS_ORIGINS", "READINESS_CORS_ORIGINS"))
    feed_clock_rate: float = Field(
        1.0, gt=0, description="How fast the feed's clock runs against the wall clock: 1 live; a replay's "
        "speed-up in a replay (the demo and the smoke test set it), so a recalibration is stamped with the feed's "
        "time now, not the last micro-batch's (at 120x, minutes behind: behind the watermark, so never scored).")
    stale_after_seconds: float = Field(
        60.0, gt=0, description="Data older than this (feed time behind the newest pitch) is flagged stale.")
    rate_limit_per_second: int = Field(200, ge=1, description="API requests per key per second.")

    mlflow_tracking_uri: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "READINESS_MLFLOW_TRACKING_URI"),
        description="MLflow tracking and registry store (default: a SQLite file under <home>/mlflow; "
        "postgresql://... when configured).")
    mlflow_artifacts_uri: str | None = Field(None, description="Where model artifacts go (default <home>/mlflow/artifacts).")
    model_name: str = Field("pitcher_readiness", description="The registered model of the readiness scoring.")
    model_alias_ttl_seconds: float = Field(5.0, gt=0, description="How often readers re-resolve the champion alias.")

    # Retention schedule (docs/data-lifecycle.md; enforced by `readiness retention apply` and
    # the Dagster `retention` job). Windows count back from the wall clock, not the feed's clock.
    retention_landing_archive_days: int = Field(
        14, ge=1, description="Raw feed files in <landing>.archive (already in bronze) are deleted after this.")
    retention_quarantine_days: int = Field(
        30, ge=1, description="Quarantined messages (raw payloads) are deleted this long after they were caught.")
    retention_bronze_days: int = Field(
        400, ge=1, description="Bronze pitches, environment readings and calibrations: by game date / event "
        "time. A season and its off-season: next season's baselines and any late reprocessing need them.")
    retention_silver_days: int = Field(400, ge=1, description="Silver pitch_features, by game date.")
    retention_gold_days: int = Field(
        400, ge=1, description="Gold pitcher_readiness: a pitcher whose latest pitch is older leaves gold.")
    retention_baseline_seasons: int = Field(
        3, ge=1, description="Seasonal baselines (Delta and PostgreSQL) of this many seasons are kept, the "
        "current one included.")
    retention_ops_days: int = Field(
        90, ge=1, description="Operational tables: stream_metrics and feature_qa (its failure samples name pitches).")
    retention_online_days: int = Field(
        30, ge=1, description="Online store (Feast rows, roster, outing lists): a pitcher not written for this "
        "long is removed. The Feast views' ttl is the same 30 days.")
    retention_reports_days: int = Field(30, ge=1, description="Files under <home>/reports are deleted after this.")
    retention_audit_days: int = Field(
        400, ge=1, description="API audit rows (key, route, pitcher id, outcome; no values) are deleted after this.")
    delta_log_retention: str = Field(
        "interval 7 days", description="Delta `delta.logRetentionDuration`: how far back time travel can go.")
    delta_deleted_file_retention: str = Field(
        "interval 7 days", description="Delta `delta.deletedFileRetentionDuration`: how long VACUUM keeps files "
        "a commit removed (the rows a retention DELETE took out are unreadable after it).")

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> str:
        return self.mlflow_artifacts_uri or str(self.home / "mlflow" / "artifacts")

    @property
    def feast_dir(self) -> Path:
        """The Feast registry and (local) SQLite online store."""
        return self.home / "feast"

    @property
    def tables(self) -> Tables:
        return Tables(self.lakehouse_uri or str(self.home / "lakehouse"))

    @property
    def checkpoints(self) -> str:
        return self.checkpoint_uri or str(self.home / "checkpoints")

    @property
    def landing(self) -> Path:
        return self.landing_dir or self.home / "landing"

    @property
    def spark_local_dir(self) -> Path:
        """Spark's scratch space (spark.local.dir): shuffle and spill files (`blockmgr-*`), the state store's
        working copies, added files. Under home, so erasure and retention reach what a killed process leaves."""
        return self.home / "spark-local"

    @property
    def kafka_topics(self) -> dict[str, str]:
        """The feed's topic of each record kind (domain.events): one producer per kind at the ballpark."""
        return {kind: f"{self.kafka_topic_prefix}.{suffix}" for kind, suffix in KAFKA_TOPIC_SUFFIXES.items()}


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI flags) on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
