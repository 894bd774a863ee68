"""The audit log against the real PostgreSQL: batched writes, append-only table, nothing secret, nothing lost."""

from __future__ import annotations

import time

import psycopg
import pytest

from api.audit import AuditLog, AuditUnavailable, Outcome
from api.keys import KeyStore, key_id_of

pytestmark = pytest.mark.services

ROUTE = "/pitchers/{pitcher_id}/readiness"


def test_recorded_rows_are_in_postgres_after_flush(audit: AuditLog):
    audit.record("rk_1a2b3c4d", ROUTE, 592450, Outcome.OK, 200)
    audit.record(None, ROUTE, None, "invalid_key", 401)

    audit.flush()

    newest, oldest = audit.recent(10)
    assert (oldest.key_id, oldest.route, oldest.pitcher_id, oldest.outcome, oldest.status) == (
        "rk_1a2b3c4d", ROUTE, 592450, Outcome.OK, 200)
    assert (newest.key_id, newest.outcome, newest.status) == (None, Outcome.INVALID_KEY, 401)
    assert oldest.at <= newest.at
    assert [e.key_id for e in audit.recent(10, key_id="rk_1a2b3c4d")] == ["rk_1a2b3c4d"]


def test_rows_are_written_in_the_background_without_flush(audit: AuditLog):
    audit.record("rk_1a2b3c4d", ROUTE, 1, "ok", 200)

    deadline = time.monotonic() + 2
    while not audit.recent(1) and time.monotonic() < deadline:
        time.sleep(0.02)

    assert len(audit.recent(1)) == 1


@pytest.mark.parametrize("statement", [
    "update api_audit set status = 200",
    "delete from api_audit",
    "delete from api_audit where false",  # even a statement that touches nothing
    "truncate api_audit",
])
def test_api_audit_is_append_only(audit: AuditLog, db: psycopg.Connection, statement: str):
    audit.record("rk_1a2b3c4d", ROUTE, 1, "denied", 403)
    audit.flush()

    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute(statement)

    assert len(audit.recent(10)) == 1


def test_the_audit_log_never_holds_a_token(audit: AuditLog, store: KeyStore, db: psycopg.Connection):
    issued = store.issue("scout", "viewer", [1])
    principal = store.authenticate(issued.token)
    secret = issued.token.split(".", 1)[1]

    audit.record(principal.key_id, ROUTE, 1, "ok", 200)
    audit.record(key_id_of(issued.token[:-1] + "?"), ROUTE, None, "invalid_key", 401)  # a failed token
    with pytest.raises(ValueError, match="never stores tokens"):
        audit.record(issued.token, ROUTE, 1, "ok", 200)
    with pytest.raises(ValueError, match="never stores tokens"):
        audit.record(secret, ROUTE, 1, "ok", 200)
    with pytest.raises(ValueError, match="without a query string"):
        audit.record(principal.key_id, f"/pitchers/1/readiness?api_key={issued.token}", 1, "ok", 200)
    audit.flush()

    dump = repr(db.execute("select * from api_audit").fetchall())
    assert secret not in dump and issued.token not in dump
    assert [e.key_id for e in audit.recent(10)] == [issued.key_id, issued.key_id]


@pytest.mark.parametrize("bad", [
    {"outcome": "fine"}, {"status": 42}, {"status": True}, {"pitcher_id": 2**63}, {"pitcher_id": "1"},
    {"route": ""}, {"route": "/a\x00b"}, {"key_id": "RK_1A2B3C4D"},
])
def test_rows_that_would_poison_a_batch_are_refused_at_record(audit: AuditLog, bad: dict):
    row = {"key_id": "rk_1a2b3c4d", "route": ROUTE, "pitcher_id": 1, "outcome": "ok", "status": 200} | bad

    with pytest.raises(ValueError):
        audit.record(**row)


def test_close_writes_everything_recorded(pg_url: str, audit: AuditLog):
    log = AuditLog(pg_url, batch_size=100)
    for i in range(1234):
        log.record("rk_1a2b3c4d", ROUTE, i, "ok", 200)

    log.close()

    assert len(audit.recent(2000)) == 1234
    with pytest.raises(AuditUnavailable, match="closed"):
        log.record("rk_1a2b3c4d", ROUTE, 1, "ok", 200)


def test_record_does_not_wait_for_an_unreachable_database():
    log = AuditLog("postgresql://readiness:s3cret-pw@127.0.0.1:1/readiness", max_pending=50)
    started = time.perf_counter()
    for _ in range(50):
        log.record("rk_1a2b3c4d", ROUTE, 1, "ok", 200)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.05
    with pytest.raises(AuditUnavailable, match="waiting for PostgreSQL"):
        log.record("rk_1a2b3c4d", ROUTE, 1, "ok", 200)  # the backlog is full: fail the request, do not drop
    with pytest.raises(AuditUnavailable, match="50 audit rows are not yet in PostgreSQL") as error:
        log.flush(timeout_s=0.3)
    assert "s3cret-pw" not in str(error.value)
    with pytest.raises(AuditUnavailable, match="lost if this process exits"):
        log.close(timeout_s=0.3)


def test_ensure_schema_is_idempotent(audit: AuditLog):
    audit.record("rk_1a2b3c4d", ROUTE, 1, "ok", 200)
    audit.flush()

    audit.ensure_schema()

    assert len(audit.recent(10)) == 1
