"""Fixtures of the API security tests: a fresh PostgreSQL schema and a unique Redis key prefix per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
import redis

from api.audit import AuditLog
from api.keys import KeyStore
from readiness_platform.settings import get_settings


@pytest.fixture
def db(pg_url: str) -> Iterator[psycopg.Connection]:
    """A connection into the test's schema, to look at and move the stored times directly."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def store(pg_url: str) -> Iterator[KeyStore]:
    with KeyStore(pg_url) as key_store:
        key_store.ensure_schema()
        yield key_store


@pytest.fixture
def audit(pg_url: str) -> Iterator[AuditLog]:
    log = AuditLog(pg_url)
    log.ensure_schema()
    yield log
    log.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(get_settings().redis_url, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"test:{secrets.token_hex(6)}:ratelimit:"
    yield prefix
    for key in redis_client.scan_iter(match=prefix + "*"):
        redis_client.delete(key)
