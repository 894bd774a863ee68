"""Erasure in the local environment: the Feast online store is a SQLite file, and its free pages are wiped."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timezone

import pytest
import redis

from readiness_platform.settings import get_settings

pytestmark = pytest.mark.services
REDIS_DB = "redis://127.0.0.1:56379/13"
VICTIM, OTHER = 621219, 543867


def _row(pitcher_id: int, version: str) -> dict:
    from feature_repo.feature_views import FIELDS

    values = {"Float64": 1.5, "Int64": 3, "Bool": True, "String": "ok", "Array(String)": ["why"]}
    return {"pitcher_id": pitcher_id, "model_version": version, "event_time": datetime(2020, 9, 3, 23, 0),
            **{f.name: values[str(f.dtype)] for f in FIELDS}}


def test_forget_player_empties_the_sqlite_online_store_of_them_and_only_them(tmp_path, pg_url, capsys, monkeypatch):
    from readiness_platform.erasure import forget_player
    from readiness_platform.feature_store import apply_repo, feature_store, write_online
    from readiness_platform.online import FeastOnlineReader

    settings = get_settings(home=tmp_path, feast_env="local", redis_url=REDIS_DB, database_url=pg_url)
    apply_repo(settings)
    write_online(settings, [_row(p, v) for p in (VICTIM, OTHER) for v in ("v1", "v2")])
    reader = FeastOnlineReader(feature_store(settings))
    assert reader.read("v1", [VICTIM, OTHER]).keys() == {VICTIM, OTHER}

    report = forget_player(settings, VICTIM, dry_run=False, redis_client=redis.Redis.from_url(REDIS_DB),
                           requested_by="test")
    online = report.place("feast online store (sqlite)")
    assert online.found == online.deleted > 0
    assert reader.read("v1", [VICTIM, OTHER]).keys() == reader.read("v2", [VICTIM, OTHER]).keys() == {OTHER}
    # deleted rows can linger in SQLite's free pages until the file is rewritten: the erasure rewrites it
    with sqlite3.connect(settings.feast_dir / "online.db") as conn:
        assert conn.execute("pragma freelist_count").fetchone()[0] == 0
    assert report.left_to_delete == 0

    # the command line: a dry run now finds nothing, and the schedule is printed from the settings
    from readiness_platform.cli import main

    for k, v in {"READINESS_HOME": str(tmp_path), "READINESS_FEAST_ENV": "local", "REDIS_URL": REDIS_DB,
                 "DATABASE_URL": pg_url, "READINESS_RETENTION_QUARANTINE_DAYS": "10"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    capsys.readouterr()
    main(["forget-player", str(VICTIM), "--dry-run"])
    assert "0 records would be deleted" in capsys.readouterr().out
    main(["retention", "show"])
    assert re.search(r"quarantine \(raw payloads\) +10 days", capsys.readouterr().out)


def test_retention_expires_the_sqlite_online_store_by_event_time(tmp_path, pg_url):
    from readiness_platform.feature_store import apply_repo, feature_store, write_online
    from readiness_platform.online import FeastOnlineReader
    from readiness_platform.retention import apply_retention

    settings = get_settings(home=tmp_path, feast_env="local", redis_url=REDIS_DB, database_url=pg_url)
    apply_repo(settings)
    write_online(settings, [_row(OTHER, "v1")])  # a pitch of 2020-09-03 23:00 UTC: 30 days kept
    reader = FeastOnlineReader(feature_store(settings))
    client = redis.Redis.from_url(REDIS_DB)

    kept = apply_retention(settings, as_of=datetime(2020, 10, 3, 22, 0, tzinfo=timezone.utc), redis_client=client)
    assert next(p for p in kept.places if p.place == "online store (feast)").found == 0
    assert reader.read("v1", [OTHER]).keys() == {OTHER}
    gone = apply_retention(settings, as_of=datetime(2020, 10, 4, 0, 0, tzinfo=timezone.utc), redis_client=client)
    online = next(p for p in gone.places if p.place == "online store (feast)")
    assert online.found == online.deleted > 0
    assert reader.read("v1", [OTHER]) == {}
