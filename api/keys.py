"""API keys of the read service: issued once, stored only as hashes in PostgreSQL, checked per request.

A key's token is `<key_id>.<secret>`, e.g. `rk_1a2b3c4d.<43 base64url characters>`. It is shown once, by
`issue` or `rotate`; the database keeps the key id and the SHA-256 of the secret, never the secret. A request
is checked by looking the key id up and comparing hashes in constant time.

Roles:
- `admin`: every pitcher and every route, including launching a recalibration.
- `operator`: only the pitchers granted to the key (`api_key_grants`); may launch a recalibration.
- `viewer`: only the pitchers granted to the key; read only.

Caching: `authenticate` keeps each successful lookup in process memory for `cache_seconds` (default 5 s), so
the API reads PostgreSQL about once per key per 5 s instead of once per request. The price: a revocation,
grant change or rotation made by another process reaches a running API within `cache_seconds` (at once in
the process that made it, and at once anywhere after `forget()`). A key's expiry time is checked on every
call, cached or not.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import ClassVar, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from readiness_platform.domain.errors import ReadinessError

KEY_ID_PATTERN = re.compile(r"rk_[0-9a-f]{8}")
# token_urlsafe(32): 32 random bytes as unpadded base64url, always 43 characters
_TOKEN_PATTERN = re.compile(r"(rk_[0-9a-f]{8})\.([A-Za-z0-9_-]{43})")
# compared against when the key id is unknown, so an unknown id costs the same as a wrong secret
_NO_KEY_HASH = "0" * 64
_T = TypeVar("_T")
DEFAULT_CACHE_SECONDS = 5.0

DDL = """
create table if not exists api_keys (
    key_id text primary key check (key_id ~ '^rk_[0-9a-f]{8}$'),
    name text not null,
    role text not null check (role in ('admin', 'operator', 'viewer')),
    -- the shape check refuses anything but a hex digest, so a plaintext secret cannot be stored by mistake
    secret_hash text not null check (secret_hash ~ '^[0-9a-f]{64}$'),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    revoked_at timestamptz,
    rotated_from text references api_keys (key_id)
);
create table if not exists api_key_grants (
    key_id text not null references api_keys (key_id) on delete cascade,
    pitcher_id bigint not null,
    primary key (key_id, pitcher_id)
);
"""


class Role(StrEnum):
    """What a key may do; see the module docstring."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


def _utc(at: datetime) -> str:
    return f"{at.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


class AuthError(ReadinessError):
    """Root of the key store's errors; `outcome` is the word the audit log records for it."""

    outcome: ClassVar[str] = "denied"


class InvalidKey(AuthError):
    """The token is malformed, its key id unknown or its secret wrong; deliberately one message for all."""

    outcome = "invalid_key"

    def __init__(self) -> None:
        super().__init__("API key not valid: send the whole token you were issued (`rk_<8 hex>.<secret>`), "
                         "or ask an admin for a new key (`readiness keys issue`).")


class ExpiredKey(AuthError):
    outcome = "expired"

    def __init__(self, key_id: str, expired_at: datetime) -> None:
        super().__init__(f"API key {key_id} expired at {_utc(expired_at)}; ask an admin for a new "
                         "key (`readiness keys issue`), and rotate keys before they expire (`readiness keys rotate`).")
        self.key_id = key_id
        self.expired_at = expired_at


class RevokedKey(AuthError):
    outcome = "revoked"

    def __init__(self, key_id: str, revoked_at: datetime) -> None:
        super().__init__(f"API key {key_id} was revoked at {_utc(revoked_at)}; "
                         "ask an admin for a new key (`readiness keys issue`).")
        self.key_id = key_id
        self.revoked_at = revoked_at


class NotPermitted(AuthError):
    """A valid key asked for something its role or grants do not allow."""

    outcome = "denied"

    def __init__(self, key_id: str, role: Role, action: str, fix: str) -> None:
        super().__init__(f"API key {key_id} ({role}) may not {action}; {fix}.")
        self.key_id = key_id
        self.action = action


class KeyNotFound(AuthError):
    """An admin operation named a key id that does not exist."""

    outcome = "not_found"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key {key_id}; `readiness keys list` shows the keys.")
        self.key_id = key_id


class KeyStoreUnavailable(AuthError):
    """PostgreSQL did not answer, so no key can be checked (the caller is not at fault)."""

    outcome = "unavailable"

    def __init__(self, server: str, cause: Exception) -> None:
        super().__init__(f"the API key store (PostgreSQL at {server}) is not reachable: {cause}. "
                         "Start it with `bash scripts/services.sh start`, or check DATABASE_URL.")
        self.server = server


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, once its key is checked."""

    key_id: str
    role: Role
    pitchers: frozenset[int] | None  # None: every pitcher (admin)

    def can_see(self, pitcher_id: int) -> bool:
        return self.pitchers is None or pitcher_id in self.pitchers

    @property
    def can_recalibrate(self) -> bool:
        return self.role in (Role.ADMIN, Role.OPERATOR)

    def require_pitcher(self, pitcher_id: int) -> None:
        """Raise `NotPermitted` unless this key may read `pitcher_id`."""
        if not self.can_see(pitcher_id):
            raise NotPermitted(self.key_id, self.role, f"read pitcher {pitcher_id}",
                               f"ask an admin to grant it (`readiness keys grant {self.key_id} {pitcher_id}`)")

    def require_recalibrate(self) -> None:
        """Raise `NotPermitted` unless this key may launch a recalibration."""
        if not self.can_recalibrate:
            raise NotPermitted(self.key_id, self.role, "launch a recalibration",
                               "that needs an operator or admin key")


@dataclass(frozen=True)
class IssuedKey:
    """A new key; `token` exists only here (kept out of repr so it does not end up in logs)."""

    key_id: str
    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    """A key as `list` shows it: everything but its hash."""

    key_id: str
    name: str
    role: Role
    pitchers: frozenset[int]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    rotated_from: str | None

    def state(self, now: datetime | None = None) -> str:
        """`revoked`, `expired` or `active`."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= (now or datetime.now(timezone.utc)) else "active"


@dataclass(frozen=True)
class _Record:
    principal: Principal
    secret_hash: str
    expires_at: datetime
    revoked_at: datetime | None


def server_of(url: str) -> str:
    """`host:port/dbname` of a connection string, for messages: never its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured server"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def key_id_of(token: str) -> str | None:
    """The key id a token claims, if it has the shape of one (not proof of anything: for audit and logs)."""
    claimed = token.partition(".")[0]
    return claimed if KEY_ID_PATTERN.fullmatch(claimed) else None


def _hash(secret: str) -> str:
    # A fast hash is right here: the secret is 32 random bytes (256 bits), so guessing it from a leaked hash is
    # hopeless at any speed. Slow KDFs (bcrypt, argon2) protect low-entropy passwords, and would cost
    # milliseconds of CPU on every request the cache misses.
    return hashlib.sha256(secret.encode()).hexdigest()


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(Role)}") from None


def _pitcher_ids(pitchers: Iterable[int]) -> builtins.list[int]:
    ids = builtins.list(pitchers)
    if any(isinstance(p, bool) or not isinstance(p, int) or p <= 0 for p in ids):
        raise ValueError(f"pitcher ids are positive integers (MLBAM ids), got {ids}")
    return sorted(set(ids))


class KeyStore:
    """Issue, rotate, revoke, grant and check API keys; thread-safe (one connection behind a lock)."""

    def __init__(self, url: str, cache_seconds: float = DEFAULT_CACHE_SECONDS) -> None:
        self._url = url
        self.cache_seconds = cache_seconds
        # One connection is enough: with the cache, the request path reads PostgreSQL once per key per
        # `cache_seconds`, so there is nothing for a pool to parallelise.
        self._conn: psycopg.Connection | None = None
        self._conn_lock = threading.Lock()
        self._cache: dict[str, tuple[float, _Record]] = {}
        self._cache_lock = threading.Lock()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self, work: Callable[[psycopg.Connection], _T]) -> _T:
        with self._conn_lock:
            # A connection that was open before this call may have died since (server restart, idle
            # timeout): reconnect and try once more. A failure on a fresh connection is an outage.
            stale = self._conn is not None
            while True:
                try:
                    if self._conn is None:
                        self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                        # the connection is behind one lock: a stuck query must not stall every request
                        self._conn.execute("set statement_timeout = '5s'")
                    return work(self._conn)
                except psycopg.OperationalError as e:
                    if self._conn is not None:
                        self._conn.close()
                        self._conn = None
                    if not stale:
                        raise KeyStoreUnavailable(server_of(self._url), e) from e
                    stale = False

    def ensure_schema(self) -> None:
        """Create the key tables if they do not exist (idempotent)."""

        def work(conn: psycopg.Connection) -> None:
            with conn.transaction():
                # two processes starting at once would otherwise race on CREATE TABLE IF NOT EXISTS
                conn.execute("select pg_advisory_xact_lock(hashtext('readiness.api_keys'))")
                conn.execute(DDL)

        self._run(work)

    def issue(self, name: str, role: Role | str, pitchers: Iterable[int] = (), ttl_days: float = 90) -> IssuedKey:
        """A new key; its token is in the result and nowhere else."""
        checked_role, grants = _role(role), _pitcher_ids(pitchers)
        if not name.strip():
            raise ValueError("a key needs a name saying who or what holds it")
        if ttl_days <= 0:
            raise ValueError(f"ttl_days must be positive, got {ttl_days}")

        def work(conn: psycopg.Connection) -> IssuedKey:
            with conn.transaction():
                return _insert(conn, name, checked_role, grants, timedelta(days=ttl_days), None)

        return self._run(work)

    def rotate(self, key_id: str, overlap_hours: float = 24) -> IssuedKey:
        """A new key with the same name, role, grants and lifetime; the old one ends within `overlap_hours`."""
        if overlap_hours < 0:
            raise ValueError(f"overlap_hours must be zero or more, got {overlap_hours}")

        def work(conn: psycopg.Connection) -> IssuedKey:
            with conn.transaction():
                row = conn.execute(
                    "select name, role, expires_at - created_at, expires_at, revoked_at, expires_at <= now() "
                    "from api_keys where key_id = %s for update", (key_id,)).fetchone()
                if row is None:
                    raise KeyNotFound(key_id)
                name, role, lifetime, expires_at, revoked_at, expired = row
                # rotating a dead key would bring its access back: that takes a deliberate `issue`
                if revoked_at is not None:
                    raise RevokedKey(key_id, revoked_at)
                if expired:
                    raise ExpiredKey(key_id, expires_at)
                grants = [r[0] for r in conn.execute(
                    "select pitcher_id from api_key_grants where key_id = %s order by pitcher_id", (key_id,))]
                conn.execute("update api_keys set expires_at = least(expires_at, now() + %s) where key_id = %s",
                             (timedelta(hours=overlap_hours), key_id))
                return _insert(conn, name, Role(role), grants, lifetime, key_id)

        issued = self._run(work)
        self.forget(key_id)
        return issued

    def revoke(self, key_id: str) -> datetime:
        """Revoke a key (idempotent); returns when it was revoked."""
        row = self._run(lambda conn: conn.execute(
            "update api_keys set revoked_at = coalesce(revoked_at, now()) where key_id = %s returning revoked_at",
            (key_id,)).fetchone())
        if row is None:
            raise KeyNotFound(key_id)
        self.forget(key_id)
        revoked_at: datetime = row[0]
        return revoked_at

    def grant(self, key_id: str, pitchers: Iterable[int]) -> None:
        """Let a key read these pitchers (admin keys read every pitcher anyway)."""
        self._change_grants(key_id, _pitcher_ids(pitchers),
                            "insert into api_key_grants (key_id, pitcher_id) values (%s, %s) on conflict do nothing")

    def ungrant(self, key_id: str, pitchers: Iterable[int]) -> None:
        """Stop a key reading these pitchers."""
        self._change_grants(key_id, _pitcher_ids(pitchers),
                            "delete from api_key_grants where key_id = %s and pitcher_id = %s")

    def _change_grants(self, key_id: str, pitchers: builtins.list[int], statement: str) -> None:
        def work(conn: psycopg.Connection) -> None:
            with conn.transaction():
                if conn.execute("select 1 from api_keys where key_id = %s for update", (key_id,)).fetchone() is None:
                    raise KeyNotFound(key_id)
                with conn.cursor() as cur:
                    cur.executemany(statement, [(key_id, p) for p in pitchers])

        self._run(work)
        self.forget(key_id)

    def authenticate(self, token: str) -> Principal:
        """The principal of a token, or `InvalidKey`, `ExpiredKey`, `RevokedKey` (`KeyStoreUnavailable`)."""
        match = _TOKEN_PATTERN.fullmatch(token)
        if match is None:
            raise InvalidKey()
        key_id, secret = match.groups()
        record = self._cached(key_id)
        cached = record is not None
        if record is None:
            record = self._run(lambda conn: _load(conn, key_id))
        # compared even when the key id is unknown, so the two failures take the same time
        if not hmac.compare_digest(_hash(secret), record.secret_hash if record else _NO_KEY_HASH) or record is None:
            raise InvalidKey()
        # checked only after the secret: without it, nobody learns whether a key id is revoked or expired
        if record.revoked_at is not None:
            raise RevokedKey(key_id, record.revoked_at)
        if record.expires_at <= datetime.now(timezone.utc):
            self.forget(key_id)
            raise ExpiredKey(key_id, record.expires_at)
        if not cached:
            # only successes are cached: the cache stays as small as the set of live keys in use
            with self._cache_lock:
                self._cache[key_id] = (time.monotonic(), record)
        return record.principal

    def _cached(self, key_id: str) -> _Record | None:
        with self._cache_lock:
            entry = self._cache.get(key_id)
            if entry is None:
                return None
            if time.monotonic() - entry[0] >= self.cache_seconds:
                del self._cache[key_id]
                return None
            return entry[1]

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached lookups (one key's, or all), so the next `authenticate` reads PostgreSQL."""
        with self._cache_lock:
            if key_id is None:
                self._cache.clear()
            else:
                self._cache.pop(key_id, None)

    def list(self) -> builtins.list[KeyInfo]:
        """Every key, oldest first, with its grants; never a hash."""
        rows = self._run(lambda conn: conn.execute(
            "select k.key_id, k.name, k.role, "
            "coalesce(array_agg(g.pitcher_id order by g.pitcher_id) filter (where g.pitcher_id is not null), '{}'), "
            "k.created_at, k.expires_at, k.revoked_at, k.rotated_from "
            "from api_keys k left join api_key_grants g using (key_id) "
            "group by k.key_id order by k.created_at, k.key_id").fetchall())
        return [KeyInfo(key_id, name, Role(role), frozenset(pitchers), *rest)
                for key_id, name, role, pitchers, *rest in rows]


def _insert(conn: psycopg.Connection, name: str, role: Role, grants: Iterable[int], lifetime: timedelta,
            rotated_from: str | None) -> IssuedKey:
    secret = secrets.token_urlsafe(32)
    for _ in range(5):  # key ids are 32 random bits: a collision is rare, and then another draw settles it
        key_id = "rk_" + secrets.token_hex(4)
        row = conn.execute(
            "insert into api_keys (key_id, name, role, secret_hash, expires_at, rotated_from) "
            "values (%s, %s, %s, %s, now() + %s, %s) on conflict (key_id) do nothing returning expires_at",
            (key_id, name, role.value, _hash(secret), lifetime, rotated_from)).fetchone()
        if row is not None:
            with conn.cursor() as cur:
                cur.executemany("insert into api_key_grants (key_id, pitcher_id) values (%s, %s)",
                                [(key_id, p) for p in grants])
            return IssuedKey(key_id, f"{key_id}.{secret}", row[0])
    raise AuthError("five random key ids in a row were taken; run the command again.")


def _load(conn: psycopg.Connection, key_id: str) -> _Record | None:
    row = conn.execute(
        "select k.role, k.secret_hash, k.expires_at, k.revoked_at, "
        "array(select g.pitcher_id from api_key_grants g where g.key_id = k.key_id) "
        "from api_keys k where k.key_id = %s", (key_id,)).fetchone()
    if row is None:
        return None
    role, secret_hash, expires_at, revoked_at, pitchers = Role(row[0]), *row[1:]
    principal = Principal(key_id, role, None if role is Role.ADMIN else frozenset(pitchers))
    return _Record(principal, secret_hash, expires_at, revoked_at)
