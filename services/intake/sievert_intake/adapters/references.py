"""The sender's own identifier for an incident, per trust (migration 0002), so a later message
can amend the incident an earlier one created."""

from __future__ import annotations

import uuid

import asyncpg

from sievert_intake.adapters.idempotency import StoredAnswer
from sievert_shared.db import Connection


class ReferenceTakenError(Exception):
    """A concurrent message registered the same reference first."""


async def add(conn: Connection, trust: str, reference: str, incident_id: uuid.UUID, channel: str) -> None:
    try:
        await conn.execute(
            """INSERT INTO incident_references (trust, reference, incident_id, channel)
               VALUES ($1, $2, $3, $4)""",
            trust,
            reference,
            incident_id,
            channel,
        )
    except asyncpg.UniqueViolationError as exc:
        raise ReferenceTakenError(reference) from exc


async def of_incident(conn: Connection, incident_id: uuid.UUID) -> str | None:
    found = await conn.fetchval(
        "SELECT reference FROM incident_references WHERE incident_id = $1 ORDER BY created_at LIMIT 1",
        incident_id,
    )
    return str(found) if found is not None else None


async def resolve(
    conn: Connection, *, message_key: str | None, trust: str, reference: str | None
) -> tuple[StoredAnswer | None, uuid.UUID | None]:
    """In one round trip: the stored answer for a message key, and the incident a reference names."""
    row = await conn.fetchrow(
        """SELECT (SELECT json_build_object('request_hash', k.request_hash, 'status_code', k.status_code,
                                            'response', k.response)
                     FROM idempotency_keys k WHERE k.idempotency_key = $1) AS answer,
                  (SELECT r.incident_id FROM incident_references r
                     WHERE r.trust = $2 AND r.reference = $3) AS incident""",
        message_key,
        trust,
        reference,
    )
    assert row is not None
    answer = row["answer"]
    stored = None
    if isinstance(answer, dict):
        stored = StoredAnswer(answer["request_hash"], int(answer["status_code"]), answer["response"])
    return stored, row["incident"]
