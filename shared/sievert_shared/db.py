"""PostgreSQL plumbing: the connection pool and versioned migrations.

Migrations are plain SQL files named ``NNNN_description.sql``. The shared set (outbox,
processed events) is applied before each service's own set; each applied file is recorded in
``schema_migrations`` under an advisory lock so two replicas starting together do not race.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic_core import from_json, to_json

from sievert_shared.tracing import watch_queries

# A connection straight from asyncpg or one borrowed from a pool: code takes either.
Connection = asyncpg.Connection | PoolConnectionProxy

_MIGRATION_LOCK_KEY = 0x5EE7E27  # any constant: serialises migrations across replicas


async def _init_connection(conn: asyncpg.Connection) -> None:
    watch_queries(conn)
    # pydantic's Rust JSON both ways: every outbox row the relay reads and every envelope stored
    # goes through these, and the stdlib's json was the larger part of their cost.
    await conn.set_type_codec("jsonb", encoder=_json_text, decoder=from_json, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=_json_text, decoder=from_json, schema="pg_catalog")


def _json_text(value: Any) -> str:
    return to_json(value).decode()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """asyncpg's default reset (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) is a round trip per
    release. Nothing here changes session state that outlives its use: migrations unlock in
    ``finally``, the relay removes its listener, and asyncpg still rolls back open transactions."""


class BoundedWaitPool(asyncpg.Pool):
    """A pool whose borrowers wait at most ``acquire_timeout`` seconds for a connection.

    asyncpg waits for ever by default. When every connection is held (a slow query, a database
    that stalls without refusing), requests would queue until their clients gave up, and the
    client sees a timeout it cannot tell from a fault of its own. Bounded, the wait ends in
    ``TimeoutError``, which HTTP answers as 503 with Retry-After and consumers retry in place.
    """

    acquire_timeout: float | None = None

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(dsn: str, *, max_size: int = 10, acquire_timeout: float | None = None) -> asyncpg.Pool:
    """The pool every service uses; ``acquire_timeout`` bounds the wait for a free connection
    (None: wait for ever, which one-off commands such as migrations and replay want)."""
    pool = BoundedWaitPool(
        dsn,
        min_size=1,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
    )
    pool.acquire_timeout = acquire_timeout
    await pool
    return pool


def _migration_files(package: str) -> list[tuple[str, str]]:
    folder = resources.files(package)
    files = sorted(
        (entry.name, entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".sql")
    )
    return files


async def migrate(pool: asyncpg.Pool, service_package: str) -> list[str]:
    """Apply the shared migrations, then ``service_package``'s. Returns the names applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       name text PRIMARY KEY,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            for package in ("sievert_shared.sql", service_package):
                for filename, sql in _migration_files(package):
                    name = f"{package}/{filename}"
                    if name in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                    applied_now.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
    return applied_now


async def ping(pool: asyncpg.Pool) -> None:
    async with pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1")


def record(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row.items())


class Where:
    """Builds a parameterised WHERE clause from optional filters: ``?`` marks each value."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, sql: str, *values: Any) -> None:
        for value in values:
            self.args.append(value)
            sql = sql.replace("?", f"${len(self.args)}", 1)
        self.clauses.append(sql)

    def param(self, value: Any) -> str:
        """A placeholder for a value used outside the WHERE clause (LIMIT, say)."""
        self.args.append(value)
        return f"${len(self.args)}"

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""
