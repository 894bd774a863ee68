"""`readiness forget-player <pitcher_id>`: one player's data deleted everywhere the platform keeps it.

Where a player's data lives, found by reading the code (docs/data-lifecycle.md has
the table and the decisions behind it), and what a run does there, in this order:
- the stream's checkpoint (state store): the pitcher's state rows are counted and kept (they expire);
- the Feast online store (Redis hash or SQLite rows), Redis roster and outing lists: deleted;
- the landing folder and its archive: files rewritten without the player's lines; batter ids nulled;
- `<home>/reports`: pages naming the player, and images, deleted (they are regenerated);
- Dagster runs whose logs name the player: deleted with their captured logs;
- PostgreSQL `baselines` and `api_key_grants`: deleted; `api_audit`: counted and kept (access log);
- Delta `feature_qa` (failure samples redacted), `quarantine` (payloads matched as text), `pitcher_readiness`,
  `pitch_features`, `seasonal_baselines`, then bronze `pitches` (rows deleted, batter ids nulled), each
  followed by its history purge (delta_maintenance: VACUUM RETAIN 0 HOURS, log before the latest version
  dropped, REORG ... APPLY (PURGE) first when the table uses deletion vectors).

Kafka topics (when the feed comes from Kafka) are not touched: topic retention (the schedule) removes
the player's messages. The stream must be stopped: it keeps gold in memory and would write the player's
row back at its next micro-batch, and a zero-retention VACUUM is unsafe next to a writer.

Every run prints counts per place (never a value), `dry_run` only counts, and a real run writes a
`data_erasures` row in PostgreSQL (who, when, why, which pitcher, counts per place). A second run finds
nothing to delete. Bronze goes last, so a run that fails half way can be run again and still find the
player's pitch keys there (and then purges every table's history, not only the ones it changes).
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from readiness_platform.delta_maintenance import (MARKER_CONF, count_where, delete_where, exists, newest_marker,
                                                  open_table, purge_history, rows_where, session_conf)
from readiness_platform.domain.erasure import PlayerIdentity
from readiness_platform.domain.errors import ReadinessError
from readiness_platform.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DDL = """
create table if not exists data_erasures (
    id bigserial primary key,
    pitcher_id bigint not null,
    requested_by text not null,
    reason text not null,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    status text not null check (status in ('running', 'done', 'failed')),
    -- per place: unit, found, deleted, kept - counts only, never a value
    places jsonb not null default '{}'::jsonb
);
create index if not exists data_erasures_pitcher on data_erasures (pitcher_id, id desc);
comment on table data_erasures is 'One row per `readiness forget-player` run: proof of erasure, no biometric values.';
"""
ERASURE_JOB = "player_erasure"  # the Dagster job: its runs name the player by design (they are the request)
TEXT_REPORTS = {".html", ".htm", ".json", ".csv", ".txt", ".md", ".log", ".svg", ".xml"}


class ErasureError(ReadinessError):
    """An erasure could not reach or change a place; nothing is reported as erased that was not."""


@dataclass(frozen=True)
class PlaceResult:
    """One place: how much of the player it held, how much was deleted, or why it was kept."""

    place: str
    unit: str
    found: int
    deleted: int = 0
    kept: bool = False  # found and deliberately not deleted (see note)
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "found": self.found, "deleted": self.deleted, "kept": self.kept,
                **({"note": self.note} if self.note else {})}


@dataclass
class ErasureReport:
    """What one run found and did, per place (counts only)."""

    pitcher_id: int
    dry_run: bool
    requested_by: str
    reason: str
    started_at: datetime
    places: list[PlaceResult] = field(default_factory=list)
    finished_at: datetime | None = None
    record_id: int | None = None

    @property
    def left_to_delete(self) -> int:
        """What a real run deletes (dry run) or found and did not delete (a real run: should be 0)."""
        return sum(p.found - (0 if self.dry_run else p.deleted) for p in self.places if not p.kept)

    def place(self, name: str) -> PlaceResult:
        return next(p for p in self.places if p.place == name)

    def lines(self) -> list[str]:
        return format_places(self.places, self.dry_run)


def format_places(places: list[PlaceResult], dry_run: bool) -> list[str]:
    """A table of places: found, and deleted (or what a dry run would delete, or "kept")."""
    head = "would delete" if dry_run else "deleted"
    out = [f"{'place':<40} {'unit':<13} {'found':>7} {head:>12}"]
    for p in places:
        done = "kept" if p.kept else (str(p.found) if dry_run else str(p.deleted))
        out.append(f"{p.place:<40} {p.unit:<13} {p.found:>7} {done:>12}" + (f"  ({p.note})" if p.note else ""))
    return out


@dataclass
class _Run:
    settings: Settings
    identity: PlayerIdentity
    dry_run: bool
    spark_factory: Callable[[], SparkSession]
    redis_client: Any
    dagster_instance: Any
    exclude_runs: frozenset[str]
    force_history: bool = False
    _spark: SparkSession | None = None

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = self.spark_factory()
        return self._spark

    @property
    def pid(self) -> int:
        return self.identity.pitcher_id


# ---------------------------------------------------------------------------------------------------------
# Delta tables (found with delta-rs, changed with Spark: DELETE / UPDATE / MERGE, then the history purge)
# ---------------------------------------------------------------------------------------------------------
def discover(settings: Settings, pitcher_id: int) -> PlayerIdentity:
    """The player's names and pitch keys, from bronze, silver, gold and the raw feed (before anything goes)."""
    identity = PlayerIdentity(pitcher_id)
    tables = settings.tables
    key = ["game_pk", "at_bat_number", "pitch_number"]
    bronze = rows_where(tables.pitches, f"pitcher_id = {pitcher_id}", [*key, "pitcher_name"])
    derived = [r for t in (tables.pitch_features, tables.pitcher_readiness)
               for r in rows_where(t, f"pitcher_id = {pitcher_id}", key)]
    feed = [json.loads(line) for line in _feed_lines(settings) if f"{pitcher_id}" in line and _is_json(line)]
    feed = [r for r in feed if isinstance(r, dict) and identity.owns_record(r)]
    return identity.with_evidence(
        names=[r.get("pitcher_name") for r in bronze + feed],
        pitch_keys=[tuple(r.get(k) for k in key) for r in bronze + derived + feed])


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _purge(run: _Run, name: str, path: str, changed: bool, marker: str | None) -> PlaceResult | None:
    """The history purge of one table: after a change, or whenever a previous run did not finish."""
    table = open_table(path)
    if table is None or not (changed or run.force_history):
        return None
    versions = len(table.history())
    if run.dry_run:
        return PlaceResult(f"delta {name} history", "old versions", versions - 1,
                           note="made unreadable: VACUUM, log before the latest version dropped")
    purge = purge_history(run.spark, path, marker)
    note = f"{purge.files_deleted} files vacuumed, {purge.log_files_deleted} log files dropped" + \
        ("; deletion vectors purged" if purge.deletion_vectors else "")
    return PlaceResult(f"delta {name} history", "old versions", versions - 1, versions - 1, note=note)


def _delta_by_pitcher(run: _Run, name: str) -> list[PlaceResult]:
    path = run.settings.tables.path(name)
    if open_table(path) is None:
        return []
    found = count_where(path, f"pitcher_id = {run.pid}")
    marker = newest_marker(path)
    deleted = 0 if run.dry_run or not found else delete_where(run.spark, path, f"pitcher_id = {run.pid}", marker)
    if found and deleted != found and not run.dry_run:
        raise ErasureError(f"Delta {name}: {found} rows of pitcher {run.pid} found, {deleted} deleted; "
                           "is a writer (the stream) still running? Stop it and run the erasure again.")
    out = [PlaceResult(f"delta {name}", "rows", found, deleted)]
    purged = _purge(run, name, path, found > 0, marker)
    return out + ([purged] if purged else [])


def _delta_bronze(run: _Run) -> list[PlaceResult]:
    """Bronze last: the pitch keys every other place is matched by come from here."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = run.settings.tables.pitches
    if open_table(path) is None:
        return []
    found = count_where(path, f"pitcher_id = {run.pid}")
    batting = count_where(path, f"batter_id = {run.pid}")
    marker = newest_marker(path)
    deleted = nulled = 0
    if not run.dry_run:
        if found:
            deleted = delete_where(run.spark, path, f"pitcher_id = {run.pid}", marker)
        if batting:
            with session_conf(run.spark, {MARKER_CONF: marker}):
                DeltaTable.forPath(run.spark, path).update(f"batter_id = {run.pid}", {"batter_id": F.lit(None)})
            nulled = batting
    out = [PlaceResult("delta pitches", "rows", found, deleted),
           PlaceResult("delta pitches (as batter)", "batter ids", batting, nulled,
                       note="the pitch stays (another pitcher's); the player's id is nulled")]
    purged = _purge(run, "pitches", path, found + batting > 0, marker)
    return out + ([purged] if purged else [])


def _delta_quarantine(run: _Run) -> list[PlaceResult]:
    """Quarantined payloads are raw text, often not JSON: matched line by line (domain.erasure)."""
    path = run.settings.tables.quarantine
    table = open_table(path)
    if table is None:
        return []
    payloads = [r["payload"] for r in rows_where(path, "true", ["payload"])]
    verdicts = {p: run.identity.judge_line(p) for p in set(payloads)}
    changes = {p: v.line for p, v in verdicts.items() if v.dropped or v.batter_refs}
    found = sum(1 for p in payloads if verdicts[p].dropped)
    rewritten = sum(1 for p in payloads if not verdicts[p].dropped and verdicts[p].batter_refs)
    marker = newest_marker(path)
    if changes and not run.dry_run:
        from delta.tables import DeltaTable

        source = run.spark.createDataFrame(list(changes.items()), "old string, new string")
        with session_conf(run.spark, {MARKER_CONF: marker}):
            (DeltaTable.forPath(run.spark, path).alias("t").merge(source.alias("s"), "t.payload = s.old")
             .whenMatchedDelete("s.new is null").whenMatchedUpdate(set={"payload": "s.new"}).execute())
    out = [PlaceResult("delta quarantine", "payloads", found, 0 if run.dry_run else found)]
    if rewritten:
        out.append(PlaceResult("delta quarantine (as batter)", "payloads", rewritten, 0 if run.dry_run else rewritten))
    purged = _purge(run, "quarantine", path, bool(changes), marker)
    return out + ([purged] if purged else [])


def _delta_feature_qa(run: _Run) -> list[PlaceResult]:
    """Quality-gate runs keep up to 20 failing rows per expectation: pitch key and the offending value."""
    path = run.settings.tables.feature_qa
    if open_table(path) is None:
        return []
    rows = rows_where(path, "true", ["table", "scope", "dagster_run_id", "failures"])
    changes, found = [], 0
    for r in rows:
        redacted = [run.identity.redact_samples(f) for f in r["failures"] or []]
        n = sum(c for _, c in redacted)
        if n:
            found += n
            changes.append((r["table"], r["scope"], r["dagster_run_id"], list(r["failures"]), [t for t, _ in redacted]))
    marker = None
    if changes and not run.dry_run:
        from delta.tables import DeltaTable

        source = run.spark.createDataFrame(
            changes, "table string, scope string, dagster_run_id string, old array<string>, new array<string>")
        (DeltaTable.forPath(run.spark, path).alias("t").merge(
            source.alias("s"), "t.`table` = s.`table` and t.scope = s.scope and t.failures = s.old "
                               "and t.dagster_run_id <=> s.dagster_run_id")
         .whenMatchedUpdate(set={"failures": "s.new"}).execute())
    out = [PlaceResult("delta feature_qa", "sample rows", found, 0 if run.dry_run else found)]
    purged = _purge(run, "feature_qa", path, bool(changes), marker)
    return out + ([purged] if purged else [])


# ---------------------------------------------------------------------------------------------------------
# Online store and Redis
# ---------------------------------------------------------------------------------------------------------
def _online_store(run: _Run) -> list[PlaceResult]:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    if run.settings.feast_env == "production":
        from readiness_platform.online import RedisOnlineReader

        key = RedisOnlineReader(run.redis_client).key(run.pid)
        found = int(run.redis_client.hlen(key))
        if found and not run.dry_run:
            run.redis_client.delete(key)
        return [PlaceResult("feast online store (redis)", "fields", found, 0 if run.dry_run else found,
                            note="one hash per pitcher: every view's features and timestamps")]
    from readiness_platform.feature_store import delete_local_online_rows

    entity = serialize_entity_key(EntityKey(join_keys=["pitcher_id"], entity_values=[Value(int64_val=run.pid)]),
                                  entity_key_serialization_version=3)
    found = delete_local_online_rows(run.settings, "entity_key", "=", entity, run.dry_run)
    return [PlaceResult("feast online store (sqlite)", "rows", found, 0 if run.dry_run else found)]


def _redis_platform(run: _Run) -> list[PlaceResult]:
    from readiness_platform.feature_store import ROSTER_KEY

    client = run.redis_client
    on_roster = int(client.zscore(ROSTER_KEY, str(run.pid)) is not None)
    outings = [k for k in client.scan_iter(match=f"readiness:outing:*:{run.pid}", count=1000)]
    points = sum(int(client.llen(k)) for k in outings)
    if not run.dry_run:
        if on_roster:
            client.zrem(ROSTER_KEY, str(run.pid))
        if outings:
            client.delete(*outings)
        _rewrite_aof(client)
    done = 0 if run.dry_run else 1
    return [PlaceResult("redis roster", "members", on_roster, on_roster * done),
            PlaceResult("redis outing lists", "points", points, points * done, note=f"{len(outings)} lists")]


def _rewrite_aof(client) -> None:  # noqa: ANN001
    """With append-only persistence, the log still holds the deleted writes until it is rewritten."""
    info = client.info("persistence")
    if info.get("aof_enabled") and not info.get("aof_rewrite_in_progress"):
        client.bgrewriteaof()


# ---------------------------------------------------------------------------------------------------------
# Files: the raw feed and the reports
# ---------------------------------------------------------------------------------------------------------
def _feed_folders(settings: Settings) -> list[Path]:
    landing = Path(settings.landing)
    return [landing, Path(f"{str(landing).rstrip('/')}.archive")]  # the stream's cleanSource archive


def _feed_files(settings: Settings) -> Iterable[Path]:
    for folder in _feed_folders(settings):
        if folder.exists():
            yield from sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _feed_lines(settings: Settings) -> Iterable[str]:
    for path in _feed_files(settings):
        yield from path.read_text(encoding="utf-8", errors="replace").splitlines()


def _landing(run: _Run) -> list[PlaceResult]:
    """Rewrite each feed file without the player's lines: a hidden temporary file, then a rename, with the
    old modification time (the stream's file source orders unread files by it)."""
    lines_found = refs = files = 0
    for path in list(_feed_files(run.settings)):
        text = path.read_text(encoding="utf-8", errors="replace")
        kept: list[str] = []
        dropped = nulled = 0
        for line in text.splitlines():
            verdict = run.identity.judge_line(line)
            if verdict.line is None:
                dropped += 1
            else:
                kept.append(verdict.line)
                nulled += verdict.batter_refs
        if not dropped and not nulled:
            continue
        lines_found, refs, files = lines_found + dropped, refs + nulled, files + 1
        if run.dry_run:
            continue
        stat = path.stat()
        if not kept:
            path.unlink()
            continue
        tmp = path.with_name(f".{path.name}.erasure")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("\n".join(kept) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(tmp, path)
    done = 0 if run.dry_run else 1
    return [PlaceResult("landing + archive files", "lines", lines_found, lines_found * done,
                        note=f"{files} files rewritten" if files else ""),
            PlaceResult("landing + archive (as batter)", "batter ids", refs, refs * done)]


def _reports(run: _Run) -> list[PlaceResult]:
    """Reports are derived pages: one that names the player, or holds images text search cannot see
    into, is deleted; `make demo`, `readiness backtest` and the tests write them again."""
    folder = run.settings.home / "reports"
    matched = []
    if folder.exists():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.suffix.lower() not in TEXT_REPORTS:
                matched.append(path)  # an image (screenshot, plot): cannot be searched
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if run.identity.mentioned_in(text) or "data:image" in text:
                matched.append(path)
    if not run.dry_run:
        for path in matched:
            path.unlink()
    return [PlaceResult("reports", "files", len(matched), 0 if run.dry_run else len(matched),
                        note="regenerated by make demo / readiness backtest")]


# ---------------------------------------------------------------------------------------------------------
# Dagster runs, PostgreSQL, the stream's state
# ---------------------------------------------------------------------------------------------------------
def _dagster_runs(run: _Run) -> list[PlaceResult]:
    """Runs whose logs or metadata name the player (late-pitch alert tables, quality-gate samples, ...).
    Dagster cannot edit a run's event log, so such a run is deleted whole, with its captured logs."""
    import dagster as dg

    instance = run.dagster_instance
    if instance is None:
        return [PlaceResult("dagster runs", "runs", 0, note="no Dagster instance (DAGSTER_HOME) given")]
    matched = []
    for dagster_run in instance.get_runs():
        if dagster_run.run_id in run.exclude_runs or dagster_run.job_name == ERASURE_JOB:
            continue
        text = json.dumps(dagster_run.run_config, default=str) + json.dumps(dagster_run.tags, default=str)
        text += "\n".join(dg.serialize_value(e) for e in instance.all_logs(dagster_run.run_id))
        if run.identity.mentioned_in(text):
            matched.append(dagster_run.run_id)
    if not run.dry_run:
        for run_id in matched:
            instance.delete_run(run_id)
            try:
                instance.compute_log_manager.delete_logs(prefix=[run_id])
            except NotImplementedError:  # a log manager that cannot delete: the logs expire with its storage
                pass
    return [PlaceResult("dagster runs", "runs", len(matched), 0 if run.dry_run else len(matched))]


def _postgres(run: _Run, conn: psycopg.Connection) -> list[PlaceResult]:
    def exists(table: str) -> bool:
        return conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is not None

    out = []
    for table, unit in (("baselines", "rows"), ("api_key_grants", "grants")):
        if not exists(table):
            out.append(PlaceResult(f"postgres {table}", unit, 0))
            continue
        found = conn.execute(f"select count(*) from {table} where pitcher_id = %s", (run.pid,)).fetchone()[0]
        if found and not run.dry_run:
            conn.execute(f"delete from {table} where pitcher_id = %s", (run.pid,))
        out.append(PlaceResult(f"postgres {table}", unit, found, 0 if run.dry_run else found))
    audited = conn.execute("select count(*) from api_audit where pitcher_id = %s",
                           (run.pid,)).fetchone()[0] if exists("api_audit") else 0
    out.append(PlaceResult("postgres api_audit", "rows", audited, kept=True,
                           note="access log (key, route, outcome; no values): kept, append-only"))
    return out


def _stream_state(run: _Run) -> list[PlaceResult]:
    """The stream's state store, read with Spark's state data source (read-only in Spark 4.2)."""
    from readiness_platform.transforms.features import JVM_STATE, GroupState, jvm_state_held

    checkpoint = f"{run.settings.checkpoints.rstrip('/')}/stream"
    local = "://" not in checkpoint or checkpoint.startswith("file://")
    present = Path(checkpoint.removeprefix("file://"), "state").exists() if local else \
        exists(run.spark, f"{checkpoint}/state")  # an object store: through Hadoop (Spark starts)
    if not present:
        return [PlaceResult("stream state (checkpoint)", "state rows", 0, kept=True, note="no checkpoint")]
    spark = run.spark
    spark.streams.active  # noqa: B018 - starts the session's state store coordinator, which the reader needs
    found = 0
    # The pitchers' state holds the data: the pitches of games in play (measurements) and the outing
    # summaries (date, game, pitch count); each is counted as a state row. The JVM processor (jvm/state)
    # keeps a binary value per pitcher, keyed by his id; the Python one (transforms.features.GroupState) a
    # value per group of pitchers, each one's PitcherState as JSON. The deduplication state holds event keys
    # only ("pitch/<game>/<at bat>/<pitch>", no id, no value).
    for op in spark.read.format("state-metadata").load(checkpoint).collect():
        if not op["operatorName"].startswith("transformWithState"):
            continue
        variables = {v["stateName"] for v in json.loads(op["operatorProperties"] or "{}").get("stateVariables", [])}
        name = JVM_STATE if JVM_STATE in variables else GroupState.NAME if GroupState.NAME in variables else None
        if name is None:
            continue
        state = spark.read.format("statestore").option("operatorId", op["operatorId"]) \
            .option("stateVarName", name).load(checkpoint)
        if name == JVM_STATE:  # a row per pitcher, keyed by his id: his row alone comes to the driver
            key = state.select("key.*").columns[0]
            for row in state.where(state["key"][key] == run.pid).select("value.*").collect():
                found += sum(jvm_state_held(bytes(row[0])))
            continue
        for row in state.select("value.*").collect():  # a row per group
            raw = GroupState.pitcher(tuple(row), run.pid)
            held = json.loads(raw) if raw else {}
            found += len(held.get("pitches", [])) + len(held.get("outings", []))
    return [PlaceResult("stream state (checkpoint)", "state rows", found, kept=True,
                        note="expires: pitches 4 h of feed time after the last one, the rest with the "
                             "season's checkpoint (docs/data-lifecycle.md)" if found else "")]


# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------
def connect_pg(settings: Settings) -> psycopg.Connection:
    try:
        return psycopg.connect(settings.database_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        from api.keys import server_of

        raise ErasureError(f"PostgreSQL at {server_of(settings.database_url)} is not reachable: {e}. The "
                           "erasure record goes there: start it (`bash scripts/services.sh start`).") from e


def previous_erasures(conn: psycopg.Connection, pitcher_id: int) -> list[dict]:
    """This player's erasure records, newest first."""
    if conn.execute("select to_regclass('data_erasures')").fetchone()[0] is None:
        return []
    rows = conn.execute("select id, requested_by, reason, started_at, finished_at, status, places from "
                        "data_erasures where pitcher_id = %s order by id desc", (pitcher_id,)).fetchall()
    keys = ("id", "requested_by", "reason", "started_at", "finished_at", "status", "places")
    return [dict(zip(keys, r)) for r in rows]


def forget_player(settings: Settings, pitcher_id: int, *, dry_run: bool = True, requested_by: str | None = None,
                  reason: str = "erasure request", spark: SparkSession | None = None, redis_client=None,  # noqa: ANN001
                  dagster_instance=None, exclude_runs: Iterable[str] = (),  # noqa: ANN001
                  log: Callable[[str], None] = lambda _: None) -> ErasureReport:
    """Find (dry run) or delete one player's data everywhere the platform keeps it (module docstring).
    The stream must be stopped for a real run."""
    import redis

    def spark_factory() -> SparkSession:
        from readiness_platform.spark import build_spark

        return spark or build_spark(settings, "readiness-erasure")

    report = ErasureReport(pitcher_id, dry_run, requested_by or getpass.getuser(), reason,
                           datetime.now(timezone.utc))
    client = redis_client or redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    with connect_pg(settings) as conn:
        earlier = previous_erasures(conn, pitcher_id)
        unfinished = bool(earlier) and earlier[0]["status"] != "done"
        if not dry_run:
            conn.execute(DDL)
            report.record_id = conn.execute(
                "insert into data_erasures (pitcher_id, requested_by, reason, status) values (%s, %s, %s, "
                "'running') returning id", (pitcher_id, report.requested_by, reason)).fetchone()[0]
        run = _Run(settings, PlayerIdentity(pitcher_id), dry_run, spark_factory, client, dagster_instance,
                   frozenset(exclude_runs), force_history=unfinished)

        def identify() -> list[PlaceResult]:
            run.identity = discover(settings, pitcher_id)  # before anything goes: bronze is deleted last
            log(f"pitcher {pitcher_id}: {len(run.identity.pitch_keys)} pitch keys, {len(run.identity.names)} "
                "name(s) known" + ("; an earlier erasure did not finish: every table's history is purged"
                                   if unfinished else ""))
            return []

        steps: list[Callable[[], list[PlaceResult]]] = [
            identify,
            lambda: _stream_state(run),
            lambda: _online_store(run),
            lambda: _redis_platform(run),
            lambda: _landing(run),
            lambda: _reports(run),
            lambda: _dagster_runs(run),
            lambda: _postgres(run, conn),
            lambda: _delta_feature_qa(run),
            lambda: _delta_quarantine(run),
            *[(lambda n=name: _delta_by_pitcher(run, n))
              for name in ("pitcher_readiness", "pitch_features", "seasonal_baselines")],
            lambda: _delta_bronze(run),
        ]
        try:
            for step in steps:
                started = time.monotonic()
                places = step()
                for place in places:
                    report.places.append(place)
                    log("  " + report.lines()[-1])
                log(f"    ({time.monotonic() - started:.1f} s)")
        except Exception as e:
            if report.record_id is not None:
                conn.execute("update data_erasures set status = 'failed', finished_at = now(), places = %s "
                             "where id = %s", (json.dumps(_places(report)), report.record_id))
            if isinstance(e, (ReadinessError, psycopg.Error)):
                raise
            raise ErasureError(f"erasure of pitcher {pitcher_id} stopped at a {type(e).__name__}: {e}. Places "
                               "done so far are recorded; fix the cause and run it again.") from e
        report.finished_at = datetime.now(timezone.utc)
        if report.record_id is not None:
            conn.execute("update data_erasures set status = 'done', finished_at = %s, places = %s where id = %s",
                         (report.finished_at, json.dumps(_places(report)), report.record_id))
    return report


def _places(report: ErasureReport) -> dict[str, dict]:
    return {p.place: p.as_json() for p in report.places}

