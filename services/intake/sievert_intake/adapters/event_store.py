"""Intake's append-only event store in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope

SOURCE_MESSAGE_INDEX = "events_reported_source_message"


class DuplicateSourceMessageError(Exception):
    """Another IncidentReported of the same trust carries this source message id (migration 0002)."""


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it."""

    def __init__(self, stream_id: uuid.UUID, expected: int, actual: int) -> None:
        super().__init__(f"incident {stream_id} is at version {actual}, not {expected}")
        self.expected = expected
        self.actual = actual


async def current_version(conn: Connection, stream_id: uuid.UUID) -> int:
    version = await conn.fetchval("SELECT max(stream_version) FROM events WHERE stream_id = $1", stream_id)
    return int(version or 0)


async def append(conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
    """Append inside the caller's transaction. The unique (stream_id, stream_version) key turns a
    concurrent writer's append into a ``ConcurrencyError`` instead of a silent overwrite."""
    try:
        await conn.executemany(
            """INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                                   trust, site, envelope, recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            [
                (
                    e.event_id,
                    e.stream_id,
                    e.stream_version,
                    e.event_type,
                    e.schema_version,
                    e.tenant.trust,
                    e.tenant.site,
                    e.model_dump(mode="json"),
                    e.recorded_at,
                )
                for e in envelopes
            ],
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == SOURCE_MESSAGE_INDEX:
            raise DuplicateSourceMessageError(envelopes[0].tenant.trust) from exc
        stream_id = envelopes[0].stream_id
        actual = await current_version(conn, stream_id)
        raise ConcurrencyError(stream_id, envelopes[0].stream_version - 1, actual) from exc


async def read_stream(conn: Connection, stream_id: uuid.UUID) -> list[EventEnvelope]:
    rows = await conn.fetch(
        "SELECT envelope FROM events WHERE stream_id = $1 ORDER BY stream_version", stream_id
    )
    return [EventEnvelope.model_validate(r["envelope"]) for r in rows]


async def find_reported(conn: Connection, trust: str, source_message_id: str) -> EventEnvelope | None:
    """The IncidentReported a sender's message created, if it did (served by the 0002 index)."""
    row = await conn.fetchrow(
        """SELECT envelope FROM events
           WHERE trust = $1 AND event_type = 'IncidentReported'
             AND envelope #>> '{payload,source_message_id}' = $2""",
        trust,
        source_message_id,
    )
    return None if row is None else EventEnvelope.model_validate(row["envelope"])


async def read_all(
    conn: Connection, *, after_position: int = 0, limit: int = 1000
) -> list[tuple[int, dict[str, Any]]]:
    rows = await conn.fetch(
        """SELECT global_position, envelope FROM events
           WHERE global_position > $1 ORDER BY global_position LIMIT $2""",
        after_position,
        limit,
    )
    return [(r["global_position"], r["envelope"]) for r in rows]
