"""The Dagster instance: a DAGSTER_HOME under var/ with local storage by default, or PostgreSQL.

`readiness dagster-home [--postgres]` writes its dagster.yaml. With --postgres, run, event-log and
schedule storage go to the `dagster` database of the project's PostgreSQL (scripts/services.sh), its
URL read from DAGSTER_PG_URL at run time, so no password is written to disk.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from readiness_platform.settings import Settings

LOCAL = {"telemetry": {"enabled": False}}
POSTGRES = {
    **LOCAL,
    "storage": {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}},
}


def dagster_pg_url(settings: Settings) -> str:
    """The `dagster` database on the same server as the platform's database, through psycopg2:
    SQLAlchemy 2.1 made psycopg 3 the default driver, and dagster-postgres's `NOTIFY run_events, %s`
    is a syntax error under psycopg 3's server-side parameters (seen here)."""
    server = settings.database_url.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+psycopg2://{server}/dagster"


def write_dagster_home(settings: Settings, postgres: bool = False) -> Path:
    """Create <home>/dagster with its dagster.yaml; returns the folder to use as DAGSTER_HOME."""
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        "# written by `readiness dagster-home`" + (" --postgres: export DAGSTER_PG_URL" if postgres else "") + "\n"
        + yaml.safe_dump(POSTGRES if postgres else LOCAL, sort_keys=False)
    )
    return home
