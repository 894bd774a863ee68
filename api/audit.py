"""The read API's audit log: which key asked for which pitcher on which route, and what it got.

Rows are append-only in PostgreSQL (`api_audit`): a statement trigger raises on UPDATE, DELETE and TRUNCATE,
so neither this code nor a mistaken script can rewrite history. (The table's owner could still drop the
trigger; in production the API's database role should hold only INSERT and SELECT on the table.)

A row holds the key id, route template, pitcher id, outcome and HTTP status, nothing else: never a token, a
secret, a query string or a feature value. `record` checks its arguments so a token cannot slip in as a
key id or a route.

`record` never waits for PostgreSQL: rows go to an in-memory buffer that a background thread writes with
COPY every ~100 ms or 500 rows. While PostgreSQL is down the thread keeps the rows and retries; when the
buffer holds `max_pending` rows, `record` raises `AuditUnavailable` so requests fail (503) rather than go
unaudited. `close()` writes everything recorded before it returns.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

import psycopg

from api.keys import KEY_ID_PATTERN, server_of
from readiness_platform.domain.errors import ReadinessError

log = logging.getLogger(__name__)

_BIGINT = range(-(2**63), 2**63)  # the column's range; a request may name any id, even a nonsense one
_COLUMNS = "at, key_id, route, pitcher_id, outcome, status"
_Row = tuple[datetime, str | None, str, int | None, str, int]


class Outcome(StrEnum):
    """How a request ended, as the audit log records it."""

    OK = "ok"
    DENIED = "denied"
    NOT_FOUND = "not_found"
    INVALID_KEY = "invalid_key"
    EXPIRED = "expired"
    REVOKED = "revoked"
    RATE_LIMITED = "rate_limited"
    BAD_REQUEST = "bad_request"
    UNAVAILABLE = "unavailable"


DDL = f"""
create table if not exists api_audit (
    id bigserial primary key,
    at timestamptz not null default now(),
    key_id text check (key_id ~ '^rk_[0-9a-f]{{8}}$'),
    route text not null,
    pitcher_id bigint,
    outcome text not null check (outcome in ({", ".join(f"'{o.value}'" for o in Outcome)})),
    status int not null check (status between 100 and 599)
);
create index if not exists api_audit_key_id on api_audit (key_id, id desc);
create or replace function api_audit_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'api_audit is append-only: % is not allowed', tg_op
        using hint = 'audit rows are never changed or removed';
end $$;
create or replace trigger api_audit_append_only before update or delete or truncate on api_audit
    for each statement execute function api_audit_append_only();
"""


class AuditUnavailable(ReadinessError):
    """Audit rows cannot reach PostgreSQL (or the log is closed); the request should fail with 503."""

    outcome = "unavailable"


@dataclass(frozen=True)
class AuditEntry:
    """One row of `api_audit`."""

    id: int
    at: datetime
    key_id: str | None
    route: str
    pitcher_id: int | None
    outcome: Outcome
    status: int


def _checked(key_id: str | None, route: str, pitcher_id: int | None, outcome: Outcome | str,
             status: int) -> _Row:
    # A bad row would make every COPY of its batch fail and the writer retry forever, so it is refused here.
    if key_id is not None and not (isinstance(key_id, str) and KEY_ID_PATTERN.fullmatch(key_id)):
        raise ValueError("key_id must be an API key id like rk_1a2b3c4d, or None (the audit log never "
                         "stores tokens); use api.keys.key_id_of(token) for a token that failed")
    if not isinstance(route, str) or not 0 < len(route) <= 200 or "?" in route or not route.isprintable():
        raise ValueError("route must be the route template, e.g. /pitchers/{pitcher_id}/readiness: printable, "
                         "at most 200 characters, without a query string (query strings can carry secrets)")
    if pitcher_id is not None and (isinstance(pitcher_id, bool) or not isinstance(pitcher_id, int)
                                   or pitcher_id not in _BIGINT):
        raise ValueError(f"pitcher_id must be a 64-bit integer or None, got {pitcher_id!r}")
    try:
        checked_outcome = Outcome(outcome)
    except ValueError:
        raise ValueError(f"unknown outcome {outcome!r}; outcomes: {', '.join(Outcome)}") from None
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"status must be an HTTP status code, got {status!r}")
    return (datetime.now(timezone.utc), key_id, route, pitcher_id, checked_outcome.value, status)


class AuditLog:
    """Append-only audit rows, written in batches by a background thread (see the module docstring)."""

    def __init__(self, url: str, *, flush_interval_s: float = 0.1, batch_size: int = 500,
                 max_pending: int = 100_000) -> None:
        self._url = url
        self._interval = flush_interval_s
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._cond = threading.Condition()
        self._pending: list[_Row] = []
        self._enqueued = 0  # rows accepted by `record`, ever
        self._written = 0  # rows committed to PostgreSQL, ever
        self._flushers = 0
        self._closing = False
        self._conn: psycopg.Connection | None = None  # the writer thread's own
        # daemon: a process that exits without close() must not hang on a PostgreSQL outage; close() is
        # how a process makes sure nothing is lost
        self._thread = threading.Thread(target=self._write_loop, name="api-audit-writer", daemon=True)
        self._thread.start()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_schema(self) -> None:
        """Create `api_audit` and its append-only trigger if they do not exist (idempotent)."""
        with self._connect() as conn, conn.transaction():
            # two processes starting at once would otherwise race on CREATE ... IF NOT EXISTS
            conn.execute("select pg_advisory_xact_lock(hashtext('readiness.api_audit'))")
            conn.execute(DDL)

    def record(self, key_id: str | None, route: str, pitcher_id: int | None, outcome: Outcome | str,
               status: int) -> None:
        """Queue one row; returns at once (`AuditUnavailable` if the log is closed or the backlog is full)."""
        row = _checked(key_id, route, pitcher_id, outcome, status)
        with self._cond:
            if self._closing or not self._thread.is_alive():
                raise AuditUnavailable("the audit log is closed; requests cannot be audited (restart the API)")
            if len(self._pending) >= self._max_pending:
                raise AuditUnavailable(
                    f"{len(self._pending)} audit rows are waiting for PostgreSQL at {server_of(self._url)}; "
                    "requests are refused until it is back (`bash scripts/services.sh start`)")
            self._pending.append(row)
            self._enqueued += 1
            if len(self._pending) >= self._batch_size:
                self._cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Block until every row recorded so far is in PostgreSQL (`AuditUnavailable` after `timeout_s`)."""
        with self._cond:
            target = self._enqueued
            self._flushers += 1
            self._cond.notify_all()
            try:
                done = self._cond.wait_for(lambda: self._written >= target, timeout_s)
            finally:
                self._flushers -= 1
            missing = target - self._written
        if not done:
            raise AuditUnavailable(f"{missing} audit rows are not yet in PostgreSQL at {server_of(self._url)} "
                                   f"after {timeout_s} s; is it up? (`bash scripts/services.sh start`)")

    def close(self, timeout_s: float = 30.0) -> None:
        """Write everything recorded, then stop the writer; `AuditUnavailable` if rows are left after `timeout_s`."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            with self._cond:
                missing = self._enqueued - self._written
            raise AuditUnavailable(f"{missing} audit rows could not be written to PostgreSQL at "
                                   f"{server_of(self._url)}; they are lost if this process exits now")

    def recent(self, limit: int = 100, key_id: str | None = None) -> list[AuditEntry]:
        """The newest rows, newest first, of every key or of one."""
        with self._connect() as conn:
            rows = conn.execute(
                f"select id, {_COLUMNS} from api_audit where %(key_id)s::text is null or key_id = %(key_id)s "
                "order by id desc limit %(limit)s", {"key_id": key_id, "limit": limit}).fetchall()
        return [AuditEntry(id, at, kid, route, pid, Outcome(outcome), status)
                for id, at, kid, route, pid, outcome, status in rows]

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self._url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as e:
            raise AuditUnavailable(f"PostgreSQL at {server_of(self._url)} is not reachable: {e}. "
                                   "Start it with `bash scripts/services.sh start`, or check DATABASE_URL.") from e

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                # wake for a full batch, a flush or close; otherwise write what there is every interval
                self._cond.wait_for(lambda: self._closing or (bool(self._pending) and (
                    self._flushers > 0 or len(self._pending) >= self._batch_size)), self._interval)
                batch = self._pending[: self._batch_size]
                del self._pending[: self._batch_size]
                if not batch and self._closing:
                    break
            if batch:
                self._write(batch)
                with self._cond:
                    self._written += len(batch)
                    self._cond.notify_all()
        if self._conn is not None:
            self._conn.close()

    def _write(self, batch: list[_Row]) -> None:
        """COPY one batch, retrying with backoff until PostgreSQL takes it: rows are never dropped."""
        delay = 0.1
        while True:
            try:
                if self._conn is None:
                    self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                with self._conn.transaction(), self._conn.cursor() as cur, \
                        cur.copy(f"copy api_audit ({_COLUMNS}) from stdin") as copy:
                    for row in batch:
                        copy.write_row(row)
                return
            except psycopg.Error as e:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                log.warning("audit: %d rows wait for PostgreSQL at %s (%s); retrying in %.1f s",
                            len(batch), server_of(self._url), e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
