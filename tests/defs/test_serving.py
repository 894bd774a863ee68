"""Serving: the online store published behind the quality gates, and point-in-time training sets."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pandas as pd
import pytest
import redis
from pyspark.sql import functions as F

from readiness_platform.definitions import build_definitions
from readiness_platform.feature_store import ROSTER_KEY, apply_repo, feature_store, write_online
from readiness_platform.lakehouse import ensure_tables, table_specs
from readiness_platform.online import RedisOnlineReader
from tests.defs.test_quality import _bronze
from tests.defs.helpers import write_silver

pytestmark = [pytest.mark.spark, pytest.mark.services]
REDIS_DB = "redis://127.0.0.1:56379/8"  # a database of its own, flushed by the test


def _publish(settings) -> dg.ExecuteInProcessResult:  # noqa: ANN001
    job = build_definitions(settings).resolve_job_def("online_publication")
    return job.execute_in_process(raise_on_error=False)


def _py(row: pd.Series) -> dict:
    """A pandas row as plain Python values (what Spark and Feast take)."""
    def plain(v):  # noqa: ANN001, ANN202
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime()
        if hasattr(v, "tolist"):
            return v.tolist()
        return v
    return {k: plain(v) for k, v in row.to_dict().items()}


def _latest_by_hand(day: pd.DataFrame) -> dict[tuple[int, str], pd.Series]:
    ordered = day.sort_values(["event_time", "game_pk", "at_bat_number", "pitch_number"])
    return {(int(p), v): g.iloc[-1] for (p, v), g in ordered.groupby(["pitcher_id", "model_version"])}


def test_publication_fills_and_repairs_the_store_and_a_failing_suite_publishes_nothing(spark, settings, scored,
                                                                                       monkeypatch):
    monkeypatch.setenv("READINESS_FEAST_ENV", "production")  # what the Dagster resources will read
    monkeypatch.setenv("REDIS_URL", REDIS_DB)
    settings = settings.model_copy(update={"feast_env": "production", "redis_url": REDIS_DB})
    client = redis.Redis.from_url(REDIS_DB)
    client.flushdb()
    _bronze(spark, settings)
    day = scored[scored["game_date"].astype(str) == "2020-09-03"].copy()  # the full game day of _bronze
    write_silver(spark, settings, day)
    ensure_tables(spark, settings.tables, ["pitcher_readiness"])
    # gold holds one pitcher's next pitch, still provisional: it is newer than anything in silver
    expected = _latest_by_hand(day)
    lead = next(iter(expected))
    nxt = expected[lead].copy()
    nxt["event_time"] += timedelta(seconds=20)
    nxt["pitch_number"] += 1
    nxt["is_final"], nxt["readiness"] = False, 42.0
    gold = table_specs()["pitcher_readiness"].schema
    key = (F.col("pitcher_id") == lead[0]) & (F.col("model_version") == lead[1]) & (
        F.col("event_time") == _py(expected[lead])["event_time"]) & (F.col("pitch_number") == int(nxt["pitch_number"] - 1))
    spark.read.format("delta").load(settings.tables.pitch_features).where(key).withColumns({
        "event_time": F.col("event_time") + F.expr("INTERVAL 20 SECONDS"), "pitch_number": F.col("pitch_number") + 1,
        "is_final": F.lit(False), "readiness": F.lit(42.0), "updated_at": F.current_timestamp(),
    }).select(*gold.fieldNames()).write.format("delta").mode("overwrite").save(settings.tables.pitcher_readiness)
    expected[lead] = nxt

    result = _publish(settings)
    assert result.success
    meta = result.asset_materializations_for_node("online_features")[0].metadata
    assert meta["rows_written"].value == len(expected)
    reader = RedisOnlineReader(client)
    for version in ("v1", "v2"):
        ids = sorted(p for p, v in expected if v == version)
        online = reader.read(version, ids)
        assert set(online) == set(ids)
        for pid, row in online.items():
            want = expected[(pid, version)]
            assert row.features["readiness"] == pytest.approx(want["readiness"]), (pid, version)
            assert row.event_time.replace(tzinfo=None) == want["event_time"]
            assert row.features["is_final"] == bool(want["is_final"])
    assert client.zcard(ROSTER_KEY) == len({p for p, _ in expected})

    # repair: a wrong value for the same pitch is put right; a later pitch online is left alone
    other = [k for k in expected if k[0] != lead[0]][0]
    wrong = {**_py(expected[other]), "readiness": 1.0}
    later = {**_py(expected[other]), "model_version": other[1], "pitch_number": 99, "readiness": 77.0,
             "event_time": expected[other]["event_time"] + timedelta(minutes=1)}
    write_online(settings, [wrong], client)
    again = _publish(settings)
    assert again.success
    assert again.asset_materializations_for_node("online_features")[0].metadata["rows_written"].value == 1
    assert reader.read(other[1], [other[0]])[other[0]].features["readiness"] == pytest.approx(expected[other]["readiness"])
    write_online(settings, [later], client)
    kept = _publish(settings)
    assert kept.asset_materializations_for_node("online_features")[0].metadata["newer_online"].value == 1
    assert reader.read(other[1], [other[0]])[other[0]].features["readiness"] == 77.0

    # a failing suite: the checks run, the store is not touched
    client.flushdb()
    broken = day.copy()
    broken.loc[broken.index[0], "readiness"] = 120.0
    write_silver(spark, settings, broken)
    blocked = _publish(settings)
    assert not blocked.success
    checks = {e.asset_check_key.name: e.passed for e in blocked.get_asset_check_evaluations()}
    assert checks["pitch_features_suite"] is False
    assert blocked.asset_materializations_for_node("online_features") == []
    assert client.dbsize() == 0


def test_training_sets_are_point_in_time_correct_on_the_real_corpus(spark, settings, scored):
    write_silver(spark, settings, scored)
    apply_repo(settings)
    store = feature_store(settings)
    v2 = scored[scored["model_version"] == "v2"].sort_values("event_time")
    # for a few pitchers, ask as of moments inside and between their outings
    pitchers = v2["pitcher_id"].value_counts().index[:4]
    asks = []
    for p in pitchers:
        times = v2.loc[v2["pitcher_id"] == p, "event_time"]
        for q in (0.1, 0.5, 0.9):
            asks.append({"pitcher_id": int(p), "event_timestamp": times.quantile(q) + timedelta(seconds=1)})
        asks.append({"pitcher_id": int(p), "event_timestamp": times.min() - timedelta(days=1)})  # before any pitch
    entity_df = pd.DataFrame(asks)
    try:
        got = store.get_historical_features(entity_df=entity_df, features=store.get_feature_service("readiness_v2")) \
            .to_df()
    finally:
        spark.conf.set("spark.sql.parser.quotedRegexColumnNames", "false")  # Feast sets it on the session
    got = got.assign(event_timestamp=pd.to_datetime(got["event_timestamp"]).dt.tz_localize(None))
    for ask in asks:
        seen = v2[(v2["pitcher_id"] == ask["pitcher_id"]) & (v2["event_time"] <= ask["event_timestamp"])
                  & (v2["event_time"] > ask["event_timestamp"] - timedelta(days=30))]
        row = got[(got["pitcher_id"] == ask["pitcher_id"]) & (got["event_timestamp"] == ask["event_timestamp"])]
        assert len(row) == 1
        if seen.empty:
            assert pd.isna(row["readiness"].iloc[0])  # nothing from the future leaks in
        else:
            assert row["readiness"].iloc[0] == pytest.approx(seen.iloc[-1]["readiness"])
            assert row["pitch_count_game"].iloc[0] == seen.iloc[-1]["pitch_count_game"]
