"""Intake's append-only event store in PostgreSQL: events, and (in the same transaction) their
outbox rows, the senders' references and the stored answers of the requests that made them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from sievert_intake.adapters.idempotency import StoredAnswer
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import IncidentReported
from sievert_shared.outbox import topic_of
from sievert_shared.topics import Topics

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


@dataclass(frozen=True)
class NewIncident:
    """One message (or JSON report) of a group commit. ``envelope`` and ``answer`` are None when
    the message did not map to a new incident (it is stored only if its key already holds an
    answer to replay); ``key`` is None for a report sent without an Idempotency-Key."""

    key: str | None
    trust: str
    reference: str | None
    request_hash: str
    channel: str
    envelope: EventEnvelope | None
    answer: dict[str, Any] | None
    #: The W3C ``traceparent`` of the span that asked, stored with the outbox row as ``enqueue``
    #: stores the current one.
    trace_context: str | None = None


@dataclass(frozen=True)
class Found:
    """What the database already held for one message of a group commit."""

    stored: StoredAnswer | None
    known_reference: bool

    @property
    def fresh(self) -> bool:
        return self.stored is None and not self.known_reference


_STORE_NEW = """
WITH given AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                         $7::uuid[], $8::text[], $9::text[], $10::timestamptz[], $11::bytea[], $12::text[],
                         $17::text[])
        WITH ORDINALITY AS g(key, trust, reference, request_hash, response, event_id, stream_id, site,
                             envelope, recorded_at, message_key, channel, trace_context, i)
), found AS (
    SELECT g.i, k.request_hash, k.status_code, k.response,
           EXISTS (SELECT 1 FROM incident_references r
                   WHERE r.trust = g.trust AND r.reference = g.reference) AS known
    FROM given g LEFT JOIN idempotency_keys k ON k.idempotency_key = g.key
), fresh AS (
    -- Each envelope's text parsed into jsonb once, for its event and its outbox row alike, and
    -- only the jsonb kept: this CTE is materialised, and 1,000 rows of both spilled to disk.
    SELECT g.key, g.trust, g.reference, g.request_hash, g.response, g.event_id, g.stream_id, g.site,
           g.envelope::jsonb AS document, g.recorded_at, g.message_key, g.channel, g.trace_context
    FROM given g JOIN found f USING (i)
    WHERE g.event_id IS NOT NULL AND f.request_hash IS NULL AND NOT f.known
), stored_events AS (
    INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                        trust, site, envelope, recorded_at)
    SELECT event_id, stream_id, 1, $13, $14, trust, site, document, recorded_at FROM fresh
), queued AS (
    INSERT INTO outbox (event_id, topic, message_key, envelope, trace_context)
    SELECT event_id, $15, message_key, document, trace_context FROM fresh
), refs AS (
    INSERT INTO incident_references (trust, reference, incident_id, channel)
    SELECT trust, reference, stream_id, channel FROM fresh WHERE reference IS NOT NULL
), answers AS (
    INSERT INTO idempotency_keys (idempotency_key, request_hash, status_code, response)
    SELECT key, request_hash, $16::int, response::jsonb FROM fresh WHERE key IS NOT NULL
)
-- Only the messages something was found for: the rest were stored, and say nothing.
SELECT i, request_hash, status_code, response, known FROM found WHERE request_hash IS NOT NULL OR known
"""


async def store_new_incidents(
    conn: Connection, incidents: Sequence[NewIncident], topics: Topics, *, status_code: int = 200
) -> list[Found]:
    """Group commit of new incidents in one statement, so one round trip: for each message, the
    answer stored under its key and whether its reference names a known incident; and for each
    with neither (and an envelope), its ``IncidentReported`` (version 1), outbox row, reference
    and answer (under ``status_code``, the door's), stored. A concurrent writer of the same key
    or reference (or source message id) makes the statement raise
    ``asyncpg.UniqueViolationError`` and store nothing."""
    columns, traces = _columns(incidents)
    rows = await conn.fetch(
        _STORE_NEW,
        *columns,
        IncidentReported.event_type,
        IncidentReported.schema_version,
        topic_of(IncidentReported, topics),
        status_code,
        traces,
    )
    found = [Found(None, False)] * len(incidents)
    for r in rows:
        stored = None
        if r["request_hash"] is not None:
            stored = StoredAnswer(r["request_hash"], r["status_code"], r["response"])
        found[r["i"] - 1] = Found(stored, bool(r["known"]))
    return found


def _columns(incidents: Sequence[NewIncident]) -> tuple[list[list[Any]], list[str | None]]:
    """``_STORE_NEW``'s twelve arrays ($1-$12) and the trace contexts ($17), a column at a time
    (a row at a time cost a tuple and a zip per message): a message without an envelope has
    nulls from its answer on."""
    envelopes = [incident.envelope for incident in incidents]
    known = [e is not None for e in envelopes]
    columns: list[list[Any]] = [
        [incident.key for incident in incidents],
        [incident.trust for incident in incidents],
        [incident.reference for incident in incidents],
        [incident.request_hash for incident in incidents],
        [json.dumps(i.answer) if k else None for i, k in zip(incidents, known, strict=True)],
        [e.event_id if e is not None else None for e in envelopes],
        [e.stream_id if e is not None else None for e in envelopes],
        [e.tenant.site if e is not None else None for e in envelopes],
        [e.model_dump_json() if e is not None else None for e in envelopes],
        [e.recorded_at if e is not None else None for e in envelopes],
        [e.key if e is not None else None for e in envelopes],
        [i.channel if k else None for i, k in zip(incidents, known, strict=True)],
    ]
    return columns, [incident.trace_context for incident in incidents]
