"""Dagster resources: the platform's settings, its one SparkSession, and the serving PostgreSQL.

Local defaults come from `readiness_platform.settings` (embedded, one machine); production points the
same resources elsewhere through the environment (READINESS_*, DATABASE_URL), chosen once at load time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import psycopg

from readiness_platform.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class PlatformResource(dg.ConfigurableResource):
    """Where the platform's state lives: lakehouse, landing folder, checkpoints (default: settings)."""

    home: str | None = None
    feed_clock_rate: float | None = None  # a replay's speed-up (settings.feed_clock_rate)

    def settings(self) -> Settings:
        overrides = {"home": Path(self.home)} if self.home else {}
        if self.feed_clock_rate is not None:
            overrides["feed_clock_rate"] = self.feed_clock_rate
        return get_settings(**overrides)


class SparkResource(dg.ConfigurableResource):
    """The process's SparkSession, started on first use with the platform's jars and configuration."""

    app_name: str = "readiness-dagster"

    def session(self, settings: Settings) -> SparkSession:
        from readiness_platform.spark import build_spark  # pyspark only in the runs that need it

        return build_spark(settings, self.app_name)


class PostgresResource(dg.ConfigurableResource):
    """The serving database (baselines for the API, the cutover's active version)."""

    url: str

    def connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, connect_timeout=5)
        except psycopg.OperationalError as e:
            raise dg.Failure(f"PostgreSQL at {self.url.rsplit('@', 1)[-1]} is not reachable: {e}. "
                             "Start it with `bash scripts/services.sh start`.") from e


def local_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of a local run; `settings` (tests) roots everything in its own folder."""
    settings = settings or get_settings()
    return {
        "platform": PlatformResource(home=str(settings.home), feed_clock_rate=settings.feed_clock_rate),
        "spark": SparkResource(),
        "postgres": PostgresResource(url=settings.database_url),
    }
