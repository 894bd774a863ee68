"""A throwaway PostgreSQL schema on the project's server: tests and the API benchmark get tables of their
own (search_path), dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_schema(database_url: str, prefix: str) -> Iterator[str]:
    """A connection string whose search_path is a new schema `<prefix>_<random>`, dropped (cascade) after."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(database_url, options=f"-csearch_path={name}")
    finally:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))
