"""Which model version is served: the `model_deployments` log in PostgreSQL.

Every decision (cutover, rollback) is one row: the version made active, the one before, who or what
decided, why, and the evidence. The active version is the newest row's; a switch is one INSERT in one
transaction, so a reader sees the old version or the new one, never half of a switch. Both versions'
rows are always in gold `pitcher_readiness`: switching moves no data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import psycopg

DEFAULT_VERSION = "v1"
DDL = """
create table if not exists model_deployments (
    id bigserial primary key,
    active_version text not null,
    previous_version text not null,
    action text not null check (action in ('cutover', 'rollback')),
    decided_at timestamptz not null default now(),
    decided_by text not null,
    reason text not null,
    evidence jsonb not null default '{}'::jsonb
);
"""


@dataclass(frozen=True)
class Deployment:
    id: int | None
    active_version: str
    previous_version: str | None
    action: str | None
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    evidence: dict


def _exists(conn: psycopg.Connection) -> bool:
    # reads do not create the table (a read per API request must not run DDL); the first switch does
    return conn.execute("select to_regclass('model_deployments')").fetchone()[0] is not None


def active(conn: psycopg.Connection) -> Deployment:
    """The decision in force (v1 by default, before any decision)."""
    if not _exists(conn):
        return Deployment(None, DEFAULT_VERSION, None, None, None, None, None, {})
    row = conn.execute("select id, active_version, previous_version, action, decided_at, decided_by, reason, "
                       "evidence from model_deployments order by id desc limit 1").fetchone()
    if row is None:
        return Deployment(None, DEFAULT_VERSION, None, None, None, None, None, {})
    return Deployment(*row)


def switch(conn: psycopg.Connection, version: str, action: str, decided_by: str, reason: str,
           evidence: dict) -> Deployment:
    """Make `version` the active one, recording the decision; atomic."""
    with conn.transaction():
        conn.execute(DDL)
        # one writer at a time: two concurrent switches must not both read the same "previous"
        conn.execute("lock table model_deployments in share row exclusive mode")
        previous = active(conn).active_version
        conn.execute(
            "insert into model_deployments (active_version, previous_version, action, decided_by, reason, evidence) "
            "values (%s, %s, %s, %s, %s, %s)",
            (version, previous, action, decided_by, reason, json.dumps(evidence, default=str)),
        )
    return active(conn)


def history(conn: psycopg.Connection, limit: int = 20) -> list[Deployment]:
    if not _exists(conn):
        return []
    rows = conn.execute("select id, active_version, previous_version, action, decided_at, decided_by, reason, "
                        "evidence from model_deployments order by id desc limit %s", (limit,)).fetchall()
    return [Deployment(*r) for r in rows]
