"""Delta maintenance for retention and erasure: deletes that leave no readable copy behind.

A Delta DELETE only writes a new version. What it removed stays readable in three places:
- the data files older versions reference - `VERSION AS OF` reads them - until VACUUM deletes them.
  VACUUM keeps files younger than `delta.deletedFileRetentionDuration` (7 days); an erasure vacuums with
  zero retention (`RETAIN 0 HOURS`, which Delta refuses unless
  `spark.databricks.delta.retentionDurationCheck.enabled` is false for the call);
- with deletion vectors, the live files themselves: a DELETE then only marks rows deleted, so
  `REORG TABLE ... APPLY (PURGE)` rewrites those files before VACUUM. The platform's tables do not enable
  deletion vectors (Delta 4.4 does not by default here: protocol 1/2, checked by `uses_deletion_vectors`),
  but a table created elsewhere, or a future default, may: the purge checks each table;
- the commit log: each `add` action carries the file's column statistics, min and max of the leading
  columns (32 by default: gold's and the baselines' include release speed, spin, break), and each DELETE
  records its predicate. Delta removes log entries only after `delta.logRetentionDuration`, and no sooner
  than the next day (its cleanup truncates to days), so an erasure checkpoints the latest version and
  deletes every log file before it (`drop_history`): no earlier version can be read or time-travelled to.

The stream's exactly-once writers find their last micro-batch in the history's commit markers
(lakehouse.append_once): every commit made here carries the table's newest marker forward, so the
history left after a purge still names the last committed batch.

None of this is safe next to a running writer (a zero-retention VACUUM deletes the files of commits in
flight): erasure runs with the stream stopped; retention (default windows) runs between games.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from readiness_platform.spark import hadoop_fs, session_conf

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MARKER_CONF = "spark.databricks.delta.commitInfo.userMetadata"
_LOG_FILE = re.compile(r"^(\d{20})\.(?:(\d{20})\.compacted\.json|json|crc|checkpoint(?:\.\d+\.\d+)?\.parquet|"
                       r"checkpoint\.[0-9a-f-]+\.(?:json|parquet))$")
_STAGED = re.compile(r"^(\d{20})\.[0-9a-f-]+\.json$")


# Finding is done with delta-rs (no Spark: a dry run and a second run stay cheap), changing with Spark.
def open_table(path: str):  # noqa: ANN202 - deltalake.DeltaTable or None
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(path)
    except TableNotFoundError:
        return None


def rows_where(path: str, where: str, columns: list[str]) -> list[dict]:
    """Rows of a Delta table matching a SQL predicate, read with delta-rs (DataFusion: deletion vectors too)."""
    import pyarrow as pa
    from deltalake import QueryBuilder

    table = open_table(path)
    if table is None:
        return []
    cols = ", ".join(f'"{c}"' for c in columns)
    result = QueryBuilder().register("t", table).execute(f"select {cols} from t where {where}").read_all()
    return pa.table(result).to_pylist()


def count_where(path: str, where: str) -> int:
    """How many rows of a Delta table match a SQL predicate (0 when the table does not exist)."""
    import pyarrow as pa
    from deltalake import QueryBuilder

    table = open_table(path)
    if table is None:
        return 0
    result = QueryBuilder().register("t", table).execute(f"select count(*) as n from t where {where}").read_all()
    return int(pa.table(result).column("n")[0].as_py())


@dataclass(frozen=True)
class Purge:
    """What a history purge removed from one table."""

    files_deleted: int  # data files (and deletion vector files) no version references any more
    log_files_deleted: int  # commits, checkpoints and checksums before the latest version
    versions_before: int  # versions readable before the purge
    deletion_vectors: bool  # the table uses deletion vectors (REORG ... APPLY (PURGE) ran first)


def uses_deletion_vectors(path: str) -> bool:
    """Whether DELETE on this table only marks rows (deletion vectors) instead of rewriting files."""
    from deltalake import DeltaTable

    table = DeltaTable(path)
    features = set(table.protocol().writer_features or []) | set(table.protocol().reader_features or [])
    return "deletionVectors" in features or \
        table.metadata().configuration.get("delta.enableDeletionVectors", "false").lower() == "true"


def newest_marker(path: str) -> str | None:
    """The newest exactly-once commit marker (`{"app": .., "batch": ..}`) in the table's history, if any."""
    from deltalake import DeltaTable

    for commit in DeltaTable(path).history():  # newest first
        try:
            meta = json.loads(commit.get("userMetadata") or "")
        except ValueError:
            continue
        if isinstance(meta, dict) and "app" in meta and "batch" in meta:
            return commit["userMetadata"]
    return None


def exists(spark: SparkSession, path: str) -> bool:
    fs, hpath = hadoop_fs(spark, path)
    return bool(fs.exists(hpath))


def data_files(spark: SparkSession, path: str) -> set[str]:
    """Every file of the table outside its log: the live files and those only old versions reference."""
    fs, root = hadoop_fs(spark, path)
    files, it = set(), fs.listFiles(root, True)
    while it.hasNext():
        p = it.next().getPath().toString()
        rel = p.split(path.rstrip("/").split("://")[-1], 1)[-1]
        if "/_delta_log/" in rel or any(part.startswith((".", "_")) for part in rel.strip("/").split("/")):
            continue
        files.add(p)
    return files


def delete_where(spark: SparkSession, path: str, condition: str, marker: str | None = None) -> int:
    """DELETE the rows matching `condition` (Spark SQL); the number deleted."""
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, path)
    with session_conf(spark, {MARKER_CONF: marker}):
        table.delete(condition)
    metrics = table.history(1).select("operation", "operationMetrics").first()
    return int((metrics["operationMetrics"] or {}).get("numDeletedRows", 0)) if metrics["operation"] == "DELETE" else 0


def purge_history(spark: SparkSession, path: str, marker: str | None = None) -> Purge:
    """Make what earlier versions held unreadable: purge deletion vectors, VACUUM with zero retention,
    then drop the log before the latest version (see the module docstring). Run with no writer active."""
    from deltalake import DeltaTable

    dv = uses_deletion_vectors(path)
    before = data_files(spark, path)
    versions = len(DeltaTable(path).history())
    conf = {
        MARKER_CONF: marker,
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        # VACUUM lists the table with this many tasks (default 10,000): the table is one folder per game date
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": spark.conf.get("spark.sql.shuffle.partitions"),
    }
    with session_conf(spark, conf):
        if dv:
            spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
        spark.sql(f"VACUUM delta.`{path}` RETAIN 0 HOURS")
    after = data_files(spark, path)
    return Purge(len(before - after), drop_history(spark, path), versions, dv)


def drop_history(spark: SparkSession, path: str) -> int:
    """Checkpoint the latest version and delete the log files before it; the number of files deleted.

    Readers start from the checkpoint, so the table reads the same; `VERSION AS OF` an earlier version
    fails (VersionNotFound). This is Delta's own log cleanup, run now instead of after
    `delta.logRetentionDuration`."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    jspark = spark._jsparkSession  # type: ignore[attr-defined]
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(jspark, path)
    none = jvm.scala.Option.empty()
    delta_log.checkpoint(delta_log.update(False, none, none), none)  # the latest version, read afresh
    log_dir = f"{path.rstrip('/')}/_delta_log"
    fs, log_path = hadoop_fs(spark, log_dir)
    checkpoint = json.loads(_read(fs, jvm.org.apache.hadoop.fs.Path(log_path, "_last_checkpoint")))["version"]
    deleted = 0
    staged = jvm.org.apache.hadoop.fs.Path(log_path, "_staged_commits")
    for folder, pattern in ((log_path, _LOG_FILE), (staged, _STAGED)):
        if not fs.exists(folder):
            continue
        for status in fs.listStatus(folder):
            m = pattern.match(status.getPath().getName())
            if m is None or status.isDirectory():
                continue
            version = int([g for g in m.groups() if g][-1])  # a compacted file: the last version it covers
            if version < checkpoint and fs.delete(status.getPath(), False):
                deleted += 1
    delta_log.update(False, none, none)
    return deleted


def _read(fs, path) -> str:  # noqa: ANN001
    stream = fs.open(path)
    try:
        jvm_bytes = stream.readAllBytes()
    finally:
        stream.close()
    return bytes(jvm_bytes).decode()


def set_retention_properties(spark: SparkSession, path: str, properties: dict[str, str],
                             marker: str | None = None) -> bool:
    """Set the table properties that differ (one commit, carrying the marker); whether anything changed."""
    current = open_table(path).metadata().configuration
    changed = {k: v for k, v in properties.items() if current.get(k) != v}
    if not changed:
        return False
    assignments = ", ".join(f"'{k}' = '{v}'" for k, v in changed.items())
    with session_conf(spark, {MARKER_CONF: marker}):
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({assignments})")
    return True
