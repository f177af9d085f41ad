"""Stored answers for ``Idempotency-Key`` requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sievert_shared.db import Connection


@dataclass(frozen=True)
class StoredAnswer:
    request_hash: str
    status_code: int
    response: dict[str, Any]


async def lookup(conn: Connection, key: str) -> StoredAnswer | None:
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE idempotency_key = $1", key
    )
    if row is None:
        return None
    return StoredAnswer(row["request_hash"], row["status_code"], row["response"])


async def remember(
    conn: Connection, key: str, request_hash: str, status_code: int, response: dict[str, Any]
) -> bool:
    """Store the answer inside the caller's transaction; False if another request got there first."""
    stored = await conn.fetchval(
        """INSERT INTO idempotency_keys (idempotency_key, request_hash, status_code, response)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
        key,
        request_hash,
        status_code,
        response,
    )
    return bool(stored)
