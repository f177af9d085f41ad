"""Intake's use cases: record a report, record an amendment, read an incident back.

Each use case commits the new events, their outbox rows and the idempotency answer in one
transaction, so an accepted request is never half-stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from sievert_intake.adapters import event_store, idempotency
from sievert_intake.domain.incident import Amendment, IncidentReport, apply_amendment
from sievert_shared.clock import Clock
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import REGISTRY, IncidentFactsAmended, IncidentReported
from sievert_shared.facts import IncidentFacts
from sievert_shared.logging import get_logger
from sievert_shared.outbox import build_envelope, enqueue
from sievert_shared.topics import Topics

PRODUCER = "intake"

log = get_logger(__name__)


class IdempotencyConflictError(Exception):
    """The Idempotency-Key was used before with a different body."""


class IncidentNotFoundError(LookupError):
    pass


class _KeyTakenError(Exception):
    """A concurrent request stored an answer for the same key first."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class RequestContext:
    correlation_id: str
    actor: str | None
    idempotency_key: str | None
    request_hash: str


class IntakeService:
    def __init__(self, pool: asyncpg.Pool, topics: Topics, clock: Clock) -> None:
        self._pool = pool
        self._topics = topics
        self._clock = clock

    async def report(self, report: IncidentReport, ctx: RequestContext) -> Answer:
        incident_id = uuid.uuid4()
        event = IncidentReported(
            facts=report.facts, channel="json", source_message_id=report.source_message_id
        )
        envelope = build_envelope(
            event,
            stream_id=incident_id,
            stream_version=1,
            tenant=report.tenant,
            correlation_id=ctx.correlation_id,
            producer=PRODUCER,
            now=self._clock.now(),
            actor=ctx.actor,
        )
        answer = Answer(
            202, {"incident_id": str(incident_id), "stream_version": 1, "event_id": str(envelope.event_id)}
        )
        return await self._commit(envelope, answer, ctx)

    async def amend(self, incident_id: uuid.UUID, amendment: Amendment, ctx: RequestContext) -> Answer:
        async with self._pool.acquire() as conn:
            history = await event_store.read_stream(conn, incident_id)
        if not history:
            raise IncidentNotFoundError(incident_id)
        current = current_facts(history)
        latest = history[-1]
        if amendment.expected_version != latest.stream_version:
            raise event_store.ConcurrencyError(incident_id, amendment.expected_version, latest.stream_version)
        corrected, changed = apply_amendment(current, amendment.facts)
        event = IncidentFactsAmended(
            facts=corrected, changed_fields=changed, reason=amendment.reason, channel="json"
        )
        version = latest.stream_version + 1
        envelope = build_envelope(
            event,
            stream_id=incident_id,
            stream_version=version,
            tenant=latest.tenant,
            correlation_id=ctx.correlation_id,
            producer=PRODUCER,
            now=self._clock.now(),
            actor=ctx.actor,
        )
        answer = Answer(
            202,
            {
                "incident_id": str(incident_id),
                "stream_version": version,
                "event_id": str(envelope.event_id),
                "changed_fields": changed,
            },
        )
        return await self._commit(envelope, answer, ctx)

    async def _commit(self, envelope: EventEnvelope, answer: Answer, ctx: RequestContext) -> Answer:
        key = ctx.idempotency_key
        for _ in range(2):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    if key is not None:
                        stored = await idempotency.lookup(conn, key)
                        if stored is not None:
                            return self._replay(stored, ctx)
                    await event_store.append(conn, [envelope])
                    await enqueue(conn, self._topics, [envelope])
                    if key is not None and not await idempotency.remember(
                        conn, key, ctx.request_hash, answer.status_code, answer.body
                    ):
                        raise _KeyTakenError
                log.info(
                    "intake.event_recorded",
                    event_type=envelope.event_type,
                    incident_id=str(envelope.stream_id),
                    stream_version=envelope.stream_version,
                    trust=envelope.tenant.trust,
                    site=envelope.tenant.site,
                )
                return answer
            except _KeyTakenError:
                continue  # the other request committed: the next pass replays its answer
        raise RuntimeError("idempotency key neither stored nor found")  # pragma: no cover

    @staticmethod
    def _replay(stored: idempotency.StoredAnswer, ctx: RequestContext) -> Answer:
        if stored.request_hash != ctx.request_hash:
            raise IdempotencyConflictError
        return Answer(stored.status_code, stored.response)

    async def get(self, incident_id: uuid.UUID) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            history = await event_store.read_stream(conn, incident_id)
        if not history:
            raise IncidentNotFoundError(incident_id)
        return {
            "incident_id": str(incident_id),
            "trust": history[0].tenant.trust,
            "site": history[0].tenant.site,
            "stream_version": history[-1].stream_version,
            "facts": current_facts(history).model_dump(mode="json"),
            "history": [_history_entry(e) for e in history],
        }


def current_facts(history: list[EventEnvelope]) -> IncidentFacts:
    """Every intake event carries the complete facts, so the latest one is the current state."""
    event = REGISTRY.decode(history[-1])
    assert isinstance(event, IncidentReported | IncidentFactsAmended)
    return event.facts


def _history_entry(envelope: EventEnvelope) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "schema_version": envelope.schema_version,
        "stream_version": envelope.stream_version,
        "recorded_at": envelope.recorded_at.isoformat(),
        "correlation_id": envelope.correlation_id,
        "actor": envelope.actor,
    }
    if envelope.event_type == IncidentFactsAmended.event_type:
        entry["changed_fields"] = envelope.payload.get("changed_fields", [])
        entry["reason"] = envelope.payload.get("reason")
    return entry
