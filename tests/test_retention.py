"""The retention schedule enforced: what is older than its window goes, what is newer stays, in every place;
and the Delta purge when a table uses deletion vectors."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
import redis
from deltalake import DeltaTable
from google.protobuf.timestamp_pb2 import Timestamp

from readiness_platform.settings import Settings, get_settings

pytestmark = [pytest.mark.spark, pytest.mark.services]
REDIS_DB = "redis://127.0.0.1:56379/13"
AS_OF = datetime(2021, 6, 1, 12, 0, tzinfo=timezone.utc)
OLD_PITCHER, NEW_PITCHER = 111111, 222222


def _row(schema, **values) -> tuple:  # noqa: ANN001 - a row of `schema`: given values, nulls, required defaults
    from pyspark.sql import types as T

    defaults = {T.LongType: 1, T.IntegerType: 1, T.DoubleType: 0.0, T.StringType: "x", T.BooleanType: False,
                T.DateType: date(2021, 1, 1), T.TimestampType: datetime(2021, 1, 1), T.ArrayType: []}
    return tuple(values[f.name] if f.name in values else (None if f.nullable else defaults[type(f.dataType)])
                 for f in schema.fields)


def _old_and_new(spark, settings: Settings) -> None:  # noqa: ANN001
    """Two rows per table and per place: one past its window at AS_OF, one within it."""
    from readiness_platform.lakehouse import ensure_tables, table_specs

    specs, tables = table_specs(), settings.tables
    ensure_tables(spark, tables, ["pitches", "quarantine"])
    old_day, new_day = date(2020, 3, 1), date(2021, 5, 30)  # bronze: 400 days
    rows = {
        "pitches": [_row(specs["pitches"].schema, pitcher_id=p, game_date=d,
                         event_time=datetime(d.year, d.month, d.day))
                    for p, d in ((OLD_PITCHER, old_day), (NEW_PITCHER, new_day))],
        "quarantine": [_row(specs["quarantine"].schema, payload=f'{{"pitcher_id":{p}}}',
                            quarantined_at=(AS_OF - timedelta(days=days)).replace(tzinfo=None))
                       for p, days in ((OLD_PITCHER, 31), (NEW_PITCHER, 29))],  # 30 days
    }
    for name, data in rows.items():
        spark.createDataFrame(data, schema=specs[name].schema).write.format("delta").mode("append") \
            .save(tables.path(name))

    def aged(path: Path, days: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n")
        t = (AS_OF - timedelta(days=days)).timestamp()
        os.utime(path, (t, t))

    archive = Path(f"{settings.landing}.archive") / "work" / "landing"
    aged(archive / "old.jsonl", 15)  # 14 days
    aged(archive / "new.jsonl", 13)
    aged(settings.home / "reports" / "old.html", 31)  # 30 days
    aged(settings.home / "reports" / "new.html", 29)


def _online(client: redis.Redis) -> None:
    """Feast's hash per pitcher (only its timestamp field matters here), the roster, outing lists: 30 days."""
    from feature_repo.feature_views import view_name
    from readiness_platform.feature_store import ROSTER_KEY, outing_key
    from readiness_platform.online import RedisOnlineReader

    reader = RedisOnlineReader(client)
    for pid, days in ((OLD_PITCHER, 31), (NEW_PITCHER, 29)):
        at = AS_OF - timedelta(days=days)
        ts = Timestamp()
        ts.FromDatetime(at)
        client.hset(reader.key(pid), mapping={f"_ts:{view_name('v1')}": ts.SerializeToString()})
        client.zadd(ROSTER_KEY, {str(pid): at.timestamp()})
        client.rpush(outing_key("v1", pid), json.dumps({"t": at.timestamp(), "readiness": 80.0}))


def _postgres(url: str) -> None:
    from api.audit import AuditLog
    from readiness_platform.baselines_store import DDL

    AuditLog(url).ensure_schema()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DDL)
        for season in (2018, 2021):  # 3 seasons kept at 2021: 2019-2021
            conn.execute("insert into baselines (season, pitcher_id, pitch_family, n) values (%s, %s, 'four_seam', 40)",
                         (season, OLD_PITCHER))
        for days in (401, 399):  # 400 days
            conn.execute("insert into api_audit (at, key_id, route, pitcher_id, outcome, status) values "
                         "(%s, null, '/api/pitchers', %s, 'ok', 200)", (AS_OF - timedelta(days=days), OLD_PITCHER))


def test_retention_removes_what_is_past_its_window_and_keeps_the_rest(spark, tmp_path, pg_url):
    from readiness_platform.online import RedisOnlineReader
    from readiness_platform.retention import apply_retention

    settings = get_settings(home=tmp_path, feast_env="production", redis_url=REDIS_DB, database_url=pg_url)
    client = redis.Redis.from_url(REDIS_DB)
    client.flushdb()
    _old_and_new(spark, settings)
    _online(client)
    _postgres(pg_url)

    dry = apply_retention(settings, as_of=AS_OF, dry_run=True, spark=spark, redis_client=client)
    found = {p.place: p.found for p in dry.places}
    expected = ["delta pitches", "delta quarantine", "landing archive", "reports", "online store (feast)",
                "redis roster", "redis outing lists", "postgres baselines", "postgres api_audit"]
    assert found == dict.fromkeys(expected, 1)  # one of each past its window; tables that do not exist are not listed
    assert len(DeltaTable(settings.tables.pitches).history()) == 2  # nothing written by a dry run

    # the real run, as the daily schedule launches it
    from readiness_platform.definitions import build_definitions

    with pytest.MonkeyPatch.context() as env:
        for k, v in {"READINESS_FEAST_ENV": "production", "REDIS_URL": REDIS_DB, "DATABASE_URL": pg_url}.items():
            env.setenv(k, v)
        result = build_definitions(settings).resolve_job_def("retention").execute_in_process(
            run_config={"ops": {"enforce_retention": {"config": {"as_of": AS_OF.isoformat()}}}})
    assert result.success
    assert result.output_for_node("enforce_retention") == sum(p.found for p in dry.places)
    for name in ("pitches", "quarantine"):
        table = DeltaTable(settings.tables.path(name))
        kept = table.to_pyarrow_table().to_pylist()
        assert len(kept) == 1, name
        assert str(NEW_PITCHER) in json.dumps(kept[0], default=str) and str(OLD_PITCHER) not in json.dumps(
            kept[0], default=str), name
        assert table.metadata().configuration["delta.logRetentionDuration"] == settings.delta_log_retention
        assert table.metadata().configuration["delta.deletedFileRetentionDuration"] == \
            settings.delta_deleted_file_retention
    assert [p.name for p in (Path(f"{settings.landing}.archive") / "work" / "landing").iterdir()] == ["new.jsonl"]
    assert [p.name for p in (settings.home / "reports").iterdir()] == ["new.html"]
    reader = RedisOnlineReader(client)
    assert not client.exists(reader.key(OLD_PITCHER)) and client.exists(reader.key(NEW_PITCHER))
    assert [m.decode() for m in client.zrange("readiness:roster", 0, -1)] == [str(NEW_PITCHER)]
    assert sorted(k.decode() for k in client.scan_iter(match="readiness:outing:*")) == \
        [f"readiness:outing:v1:{NEW_PITCHER}"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("select season from baselines").fetchall() == [(2021,)]
        assert conn.execute("select count(*) from api_audit").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):  # the trigger is back
            conn.execute("delete from api_audit")
        (places,) = conn.execute("select places from retention_runs").fetchone()
    assert places["delta pitches"]["deleted"] == 1
    assert all(p["deleted"] == p["found"] for p in places.values()), places

    again = apply_retention(settings, as_of=AS_OF, dry_run=True, spark=spark, redis_client=client)
    assert sum(p.found for p in again.places) == 0, again.lines()


def test_with_deletion_vectors_the_purge_rewrites_files_before_vacuum(spark, tmp_path):
    from readiness_platform.delta_maintenance import count_where, delete_where, purge_history, uses_deletion_vectors

    path = str(tmp_path / "dv")
    spark.sql(f"CREATE TABLE delta.`{path}` (pitcher_id BIGINT, readiness DOUBLE) USING delta "
              "TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    spark.createDataFrame([(OLD_PITCHER, 55.0), (NEW_PITCHER, 81.0), (NEW_PITCHER, 82.0)], "pitcher_id long, readiness "
                          "double").coalesce(1).write.format("delta").mode("append").save(path)
    assert uses_deletion_vectors(path)
    assert delete_where(spark, path, f"pitcher_id = {OLD_PITCHER}") == 1
    assert count_where(path, f"pitcher_id = {OLD_PITCHER}") == 0  # delta-rs applies the deletion vector

    def physical() -> list[int]:
        return [p for f in Path(path).glob("*.parquet") for p in pq.read_table(f).column("pitcher_id").to_pylist()]

    assert OLD_PITCHER in physical()  # a DELETE with deletion vectors only marked the row
    purge = purge_history(spark, path)
    assert purge.deletion_vectors and purge.files_deleted >= 2  # the old data file and its deletion vector
    assert sorted(physical()) == [NEW_PITCHER, NEW_PITCHER]
    assert not list(Path(path).glob("deletion_vector_*.bin"))
    with pytest.raises(Exception, match="DELTA_VERSION_NOT_FOUND"):
        spark.read.format("delta").option("versionAsOf", 1).load(path).count()
    assert sorted(r["readiness"] for r in spark.read.format("delta").load(path).collect()) == [81.0, 82.0]
