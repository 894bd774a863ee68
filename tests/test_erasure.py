"""`forget-player` on a platform filled by the real stream from a real game: every place, history included.

One game of the real 2020-09-03 corpus goes through the stream (bronze, quarantine, silver, gold, the
Feast online store in Redis, the roster and outing lists, the landing archive, the checkpoint's state);
then baselines (Delta and PostgreSQL), a quality-gate record, API keys and audit rows, a report and
Dagster runs are added the way the platform writes them. The player erased is the one with the most
damaged messages in quarantine; one pitch of another pitcher names them as the batter (a two-way player).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import psycopg
import pyarrow.parquet as pq
import pytest
import redis
from deltalake import DeltaTable

from api.audit import AuditLog, Outcome
from api.keys import KeyStore
from readiness_platform.definitions import build_definitions
from readiness_platform.domain.erasure import ERASED, PlayerIdentity
from readiness_platform.domain.scores import MODEL_VERSIONS
from readiness_platform.erasure import forget_player
from readiness_platform.feature_store import ROSTER_KEY
from readiness_platform.online import RedisOnlineReader
from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import LagModel
from readiness_platform.replay.player import play
from readiness_platform.replay.sinks import LandingFolderSink
from readiness_platform.settings import Settings, get_settings
from tests.conftest import GAME_DAY, scratch_schema
from tests.spark_jobs.stream_helpers import run_to_end

pytestmark = [pytest.mark.spark, pytest.mark.services]
REDIS_DB = "redis://127.0.0.1:56379/13"
GAME = 631112  # PIT - CHC at PNC Park: 293 pitches, 10 pitchers
DELTA = ("pitches", "quarantine", "pitch_features", "pitcher_readiness", "seasonal_baselines", "feature_qa")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A schema of its own in the project's PostgreSQL for the module, dropped afterwards."""
    with scratch_schema() as url:
        yield url


def _one_game(seed: int = 5):  # noqa: ANN202 - (deliveries, victim, the pitch key that names them as batter)
    plan = replay_plan([GAME_DAY], LagModel(seed=seed, malformed_rate=0.05))
    pitches = [json.loads(d.payload) for d in plan if d.kind == "pitch" and not d.corruption]
    systems = {r["tracking_system_id"] for r in pitches if r["game_pk"] == GAME}
    game = [d for d in plan if (d.kind == "pitch" and d.key.startswith(f"{GAME}/"))
            or (d.kind != "pitch" and any(d.key.startswith(s) for s in systems))]
    owner = {_key(r): r["pitcher_id"] for r in pitches if r["game_pk"] == GAME}
    damaged = Counter(owner[d.key] for d in game
                      if d.kind == "pitch" and d.corruption and f'"pitcher_id":{owner[d.key]},' in d.payload)
    victim = damaged.most_common(1)[0][0]
    other = next(r for r in pitches if r["game_pk"] == GAME and r["pitcher_id"] != victim)
    # a two-way player: one pitch of another pitcher names the erased player as its batter
    game = [dataclasses.replace(d, payload=json.dumps({**json.loads(d.payload), "batter_id": victim}))
            if d.key == _key(other) and not d.corruption else d for d in game]
    return game, victim, _key(other)


def _key(r: dict) -> str:
    return f"{r['game_pk']}/{r['at_bat_number']}/{r['pitch_number']}"


def _table(path: str) -> list[dict]:
    return DeltaTable(path).to_pyarrow_table().to_pylist()


def _feed_lines(settings: Settings) -> list[str]:
    folders = [settings.landing, Path(f"{settings.landing}.archive")]
    return [line for f in folders if f.exists() for p in sorted(f.rglob("*.jsonl")) if not p.name.startswith(".")
            for line in p.read_text().splitlines()]


@pytest.fixture(scope="module")
def platform(spark, pg_url, tmp_path_factory):  # noqa: ANN001, ANN201
    """The filled platform: settings, the erased player, the other pitch's key, the Dagster instance."""
    from readiness_platform.baselines_store import replace_season
    from readiness_platform.lakehouse import table_specs

    home = tmp_path_factory.mktemp("erasure")
    settings = get_settings(home=home, feast_env="production", redis_url=REDIS_DB, database_url=pg_url)
    client = redis.Redis.from_url(REDIS_DB)
    client.flushdb()
    deliveries, victim, batter_pitch = _one_game()
    play(deliveries, LandingFolderSink(settings.landing), speedup=0, per_file=len(deliveries), log=lambda _: None)
    with pytest.MonkeyPatch.context() as env:  # the stream's Feast store follows the environment's settings
        for k, v in {"READINESS_FEAST_ENV": "production", "REDIS_URL": REDIS_DB, "DATABASE_URL": pg_url}.items():
            env.setenv(k, v)
        run_to_end(spark, settings)

    # Baselines need 30 pitches of a family after each game's first 10: one game is too short, so the
    # season's rows are written here the way the nightly job writes them (same table, same columns)
    from pyspark.sql import functions as F

    from readiness_platform.transforms.baselines import BASELINE_SCHEMA

    bronze = spark.read.format("delta").load(settings.tables.pitches)
    season = bronze.groupBy("pitcher_id", "pitch_family").agg(
        F.count("*").alias("n"), F.avg("release_speed").alias("velo_mean"), F.stddev("release_speed").alias("velo_sd"),
        (F.stddev("release_speed") / 2).alias("velo_sd5"), F.avg("release_spin_rate").alias("spin_mean"),
        (F.stddev("release_spin_rate") / F.avg("release_spin_rate")).alias("spin_cv"),
        F.avg("release_pos_z").alias("release_z_mean"), F.stddev("release_pos_z").alias("release_z_sd"),
        F.avg("pfx_z").alias("pfx_z_adj_mean"), F.lit(None).cast("double").alias("spin_cv_p90"),
        F.lit(None).cast("double").alias("release_z_sd_p90"), F.lit(None).cast("double").alias("outing_pitches_p50"),
    ).withColumn("season", F.lit(2020))
    season.select(*BASELINE_SCHEMA.fieldNames()).write.format("delta").mode("overwrite") \
        .option("replaceWhere", "season = 2020").save(settings.tables.seasonal_baselines)
    with psycopg.connect(pg_url) as conn:
        replace_season(conn, 2020, [r.asDict() for r in spark.read.format("delta").load(
            settings.tables.seasonal_baselines).collect()])
    # a quality-gate run that failed on one of the player's pitches and one of another pitcher's
    # (expectations.run.Failure.describe's format)
    mine = next(p for p in _table(settings.tables.pitches) if p["pitcher_id"] == victim)
    line = (f"expect_column_values_to_be_between(release_speed): 2 row(s) (0.68%) [game_pk={mine['game_pk']} "
            f"at_bat_number={mine['at_bat_number']} pitch_number={mine['pitch_number']} release_speed=250.0; "
            f"game_pk={GAME} at_bat_number=0 pitch_number=9 release_speed=12.0] -- pitches are 40-110 mph")
    spark.createDataFrame([(datetime.now(timezone.utc), "pitches", "game_date = 2020-09-03", 0.9, "ok", False,
                            [line], "run-1")], schema=table_specs()["feature_qa"].schema) \
        .write.format("delta").mode("append").save(settings.tables.feature_qa)
    with KeyStore(pg_url) as keys:
        keys.ensure_schema()
        coach = keys.issue("coach", "viewer", [victim, 543867])
    with AuditLog(pg_url) as audit:
        audit.ensure_schema()
        audit.record(coach.key_id, "/api/pitchers/{pitcher_id}/readiness", victim, Outcome.OK, 200)
    reports = home / "reports"
    reports.mkdir()
    gold = "".join(f"<tr><td>{r['pitcher_id']}</td><td>{r['readiness']:.1f}</td></tr>"
                   for r in _table(settings.tables.pitcher_readiness))
    (reports / "stream.html").write_text(f"<table>{gold}</table>")  # as report.stream_report lists gold
    (reports / "dashboard.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a screenshot: text search cannot see in
    (reports / "notes.txt").write_text("nothing about anyone\n")

    instance = dg.DagsterInstance.ephemeral()

    @dg.op(config_schema={"pitcher": int})
    def alert(context) -> None:  # noqa: ANN001 - Dagster resolves no string annotation here
        pitcher = context.op_config["pitcher"]
        context.log.warning(f"late pitch at critical: pitcher {pitcher} game {GAME} 12/3 v1 readiness 55.0")

    @dg.job
    def late_alert() -> None:
        alert()

    for pid in (victim, 543867):
        late_alert.execute_in_process(run_config={"ops": {"alert": {"config": {"pitcher": pid}}}}, instance=instance)
    return settings, victim, batter_pitch, instance


def _counts(settings: Settings) -> dict[str, Counter]:
    out = {}
    for name in ("pitches", "pitch_features", "pitcher_readiness", "seasonal_baselines"):
        out[name] = Counter(r["pitcher_id"] for r in DeltaTable(settings.tables.path(name)).to_pyarrow_table(
            columns=["pitcher_id"]).to_pylist())
    return out


def test_forget_player_deletes_them_everywhere_history_included_and_a_second_run_finds_nothing(spark, platform):
    settings, victim, batter_pitch, instance = platform
    tables = settings.tables
    client = redis.Redis.from_url(REDIS_DB)
    reader = RedisOnlineReader(client)
    before = _counts(settings)
    versions = {n: DeltaTable(tables.path(n)).version() for n in DELTA}
    bronze_rows = [r for r in _table(tables.pitches) if r["pitcher_id"] == victim]
    identity = PlayerIdentity(victim).with_evidence(  # worked out here, not by the code under test
        names=[r["pitcher_name"] for r in bronze_rows],
        pitch_keys=[(r["game_pk"], r["at_bat_number"], r["pitch_number"]) for r in bronze_rows])
    quarantined = [r["payload"] for r in _table(tables.quarantine)]
    lines = _feed_lines(settings)
    feast_keys = set(client.scan_iter(match=b"*readiness"))
    assert before["pitches"][victim] > 30 and before["seasonal_baselines"][victim] > 0
    assert client.exists(reader.key(victim)) and client.zscore(ROSTER_KEY, str(victim)) is not None

    # dry run: every place counted, nothing changed
    dry = forget_player(settings, victim, dry_run=True, spark=spark, dagster_instance=instance)
    found = {p.place: p.found for p in dry.places}
    assert found["delta pitches"] == before["pitches"][victim]
    assert found["delta pitch_features"] == before["pitch_features"][victim]
    assert found["delta pitcher_readiness"] == len(MODEL_VERSIONS)  # one row per model version
    assert found["delta seasonal_baselines"] == before["seasonal_baselines"][victim]
    assert found["delta pitches (as batter)"] == 1
    assert found["delta quarantine"] == sum(identity.judge_line(p).dropped for p in quarantined) >= 2
    assert found["delta feature_qa"] == 1
    assert found["feast online store (redis)"] > 0 and found["redis roster"] == 1 and found["redis outing lists"] > 0
    assert found["landing + archive files"] >= found["delta pitches"]
    assert found["reports"] == 2 and found["dagster runs"] == 1
    assert found["postgres baselines"] > 0 and found["postgres api_key_grants"] == 1
    assert dry.place("postgres api_audit").kept and found["postgres api_audit"] == 1
    assert dry.place("stream state (checkpoint)").kept and found["stream state (checkpoint)"] > 0
    assert {n: DeltaTable(tables.path(n)).version() for n in DELTA} == versions
    assert _feed_lines(settings) == lines and client.exists(reader.key(victim))

    # the real run, as an operator launches it from Dagster
    job = build_definitions(settings).resolve_job_def("player_erasure")
    with pytest.MonkeyPatch.context() as env:
        for k, v in {"READINESS_FEAST_ENV": "production", "REDIS_URL": REDIS_DB,
                     "DATABASE_URL": settings.database_url}.items():
            env.setenv(k, v)
        result = job.execute_in_process(instance=instance, run_config={"ops": {"erase_player": {"config": {
            "pitcher_id": victim, "requested_by": "privacy officer", "reason": "request #17", "dry_run": False,
            "stream_stopped": True}}}})
    assert result.success

    # Delta: current versions without the player, everyone else's rows untouched
    after = _counts(settings)
    for name, counts in before.items():
        assert victim not in after[name], name
        assert after[name] == Counter({p: n for p, n in counts.items() if p != victim}), name
    bronze = {_key(r): r for r in _table(tables.pitches)}
    assert bronze[batter_pitch]["batter_id"] is None and bronze[batter_pitch]["pitcher_id"] != victim
    assert not any(identity.judge_line(r["payload"]).dropped for r in _table(tables.quarantine))
    assert len(_table(tables.quarantine)) == len(quarantined) - found["delta quarantine"]
    (qa,) = _table(tables.feature_qa)
    assert ERASED in qa["failures"][0] and f"game_pk={GAME} at_bat_number=0 pitch_number=9" in qa["failures"][0]

    # Delta history: no earlier version can be read, and no file left under a table holds the player
    for name in DELTA:
        path = tables.path(name)
        with pytest.raises(Exception, match="DELTA_VERSION_NOT_FOUND|VersionNotFound|version"):
            spark.read.format("delta").option("versionAsOf", versions[name]).load(path).count()
        assert len(DeltaTable(path).history()) == 1, name
        for file in Path(path).rglob("*.parquet"):
            if "_delta_log" in file.parts:
                stats = pq.read_table(file, columns=["add"]).column("add").to_pylist()
                assert not any(_names(victim, (a or {}).get("stats") or "") for a in stats), file
            elif "pitcher_id" in pq.read_schema(file).names:
                assert victim not in pq.read_table(file, columns=["pitcher_id"]).column("pitcher_id").to_pylist()
            elif "payload" in pq.read_schema(file).names:
                payloads = pq.read_table(file, columns=["payload"]).column("payload").to_pylist()
                assert not any(identity.judge_line(p).dropped for p in payloads), file
        for file in (Path(path) / "_delta_log").glob("0*.json"):
            assert not _names(victim, file.read_text()), file
    # the stream's exactly-once marker survives the purge of bronze's history
    assert json.loads(DeltaTable(tables.pitches).history(1)[0]["userMetadata"])["app"].startswith("stream-")

    # Redis and the landing files
    assert not client.exists(reader.key(victim))
    assert set(client.scan_iter(match=b"*readiness")) == feast_keys - {reader.key(victim)}
    assert client.zscore(ROSTER_KEY, str(victim)) is None
    assert not list(client.scan_iter(match=f"readiness:outing:*:{victim}"))
    now = _feed_lines(settings)
    assert not any(identity.judge_line(line).dropped for line in now)
    assert len(now) == len(lines) - found["landing + archive files"]
    assert any('"batter_id": null' in line for line in now)

    # reports, Dagster runs, PostgreSQL and the erasure record
    assert sorted(p.name for p in (settings.home / "reports").iterdir()) == ["notes.txt"]
    late = [r for r in instance.get_runs() if r.job_name == "late_alert"]
    assert [r.run_config["ops"]["alert"]["config"]["pitcher"] for r in late] == [543867]
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("select count(*) from baselines where pitcher_id = %s", (victim,)).fetchone()[0] == 0
        assert conn.execute("select pitcher_id from api_key_grants").fetchall() == [(543867,)]
        assert conn.execute("select count(*) from api_audit where pitcher_id = %s", (victim,)).fetchone()[0] == 1
        record = conn.execute("select pitcher_id, requested_by, reason, status, places from data_erasures").fetchall()
    ((pid, by, reason, status, places),) = record
    assert (pid, by, reason, status) == (victim, "privacy officer", "request #17", "done")
    assert places["delta pitches"] == {"unit": "rows", "found": before["pitches"][victim],
                                       "deleted": before["pitches"][victim], "kept": False}
    assert all(set(v) <= {"unit", "found", "deleted", "kept", "note"} for v in places.values())

    # a second run: nothing left to delete
    again = forget_player(settings, victim, dry_run=False, spark=spark, dagster_instance=instance)
    assert again.left_to_delete == 0
    assert all(p.found == 0 for p in again.places if not p.kept), again.lines()


def _names(pitcher_id: int, text: str) -> bool:
    return re.search(rf"(?<![\d.]){pitcher_id}(?![\d.])", text) is not None


def test_the_dagster_erasure_refuses_a_real_run_while_the_stream_may_be_running(settings):
    job = build_definitions(settings).resolve_job_def("player_erasure")
    result = job.execute_in_process(raise_on_error=False, run_config={"ops": {"erase_player": {"config": {
        "pitcher_id": 1, "requested_by": "someone", "reason": "test", "dry_run": False}}}})
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "stop the readiness stream first" in failure
