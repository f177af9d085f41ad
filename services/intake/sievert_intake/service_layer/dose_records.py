"""Recording a dose record: one transaction for the stored answer of the Idempotency-Key, the
overlap check against the person's records in force, the record, and its event in the outbox.

A record whose period overlaps one already received for the person is refused (409), unless it is
a correction: then it supersedes those records and its event is ``DoseRecordCorrected``, so the
classifier's totals follow. The events of one person share a stream (``dose_history_stream``), so
they reach the classifier in the order they were stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from sievert_intake.adapters import dose_records, idempotency
from sievert_intake.domain.commands import RequestContext
from sievert_intake.domain.dose_records import DoseRecordReport, superseded_by
from sievert_intake.service_layer.errors import IdempotencyConflictError
from sievert_shared.clock import Clock
from sievert_shared.events import DoseRecordCorrected, DoseRecordReceived
from sievert_shared.events.doses import dose_history_stream
from sievert_shared.logging import get_logger
from sievert_shared.outbox import Emitter
from sievert_shared.topics import Topics

log = get_logger(__name__)

#: Passes when a concurrent request stored the same Idempotency-Key first: the next pass sees it.
_ATTEMPTS = 3


class _KeyTakenError(Exception):
    """A concurrent request stored an answer under the same key first."""


class DoseRecordService:
    """``pool`` gives the service's pool, which exists only once the service has started."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], topics: Topics, clock: Clock) -> None:
        self._pool = pool
        self._emitter = Emitter("intake", topics, clock)

    async def record(self, report: DoseRecordReport, context: RequestContext) -> dict[str, Any]:
        """Store the record, or give the answer stored for its Idempotency-Key before."""
        for _ in range(_ATTEMPTS):
            try:
                return await self._record_once(report, context)
            except _KeyTakenError:
                continue
        raise RuntimeError("the Idempotency-Key kept changing under concurrent requests")

    async def _record_once(self, report: DoseRecordReport, context: RequestContext) -> dict[str, Any]:
        # Dose records keep their keys apart from incidents': one key may name one of each.
        key = None if context.idempotency_key is None else f"dose-records:{context.idempotency_key}"
        trust, person = report.trust, report.person_pseudonym
        async with self._pool().acquire() as conn, conn.transaction():
            if key is not None:
                stored = await idempotency.lookup(conn, key)
                if stored is not None:
                    if stored.request_hash != context.request_hash:
                        raise IdempotencyConflictError
                    return stored.response
            await dose_records.lock_person(conn, trust, person)
            supersedes = superseded_by(report, await dose_records.in_force(conn, trust, person))
            record_id = uuid.uuid4()
            fields = report.model_dump(include=_EVENT_FIELDS)
            event = (
                DoseRecordCorrected(record_id=record_id, supersedes=supersedes, **fields)
                if supersedes
                else DoseRecordReceived(record_id=record_id, **fields)
            )
            [envelope] = await self._emitter.emit(
                conn,
                [event],
                stream_id=dose_history_stream(trust, person),
                tenant=report.tenant,
                correlation_id=context.correlation_id,
                actor=context.actor,
            )
            await dose_records.add(conn, record_id, report, envelope, supersedes)
            answer: dict[str, Any] = {
                "record_id": str(record_id),
                "event_id": str(envelope.event_id),
                "event_type": envelope.event_type,
                "supersedes": [str(item) for item in supersedes],
            }
            if key is not None and not await idempotency.remember(
                conn, key, context.request_hash, 202, answer
            ):
                raise _KeyTakenError
        log.info(
            "intake.dose_record_recorded",
            event_type=envelope.event_type,
            record_id=str(record_id),
            trust=trust,
            supersedes=len(supersedes),
        )
        return answer


#: The report's fields the event carries (not the tenant, which is the envelope's, nor the flag).
_EVENT_FIELDS = {
    "person_pseudonym",
    "category",
    "nation",
    "period_start",
    "period_end",
    "doses",
    "pregnancy_declared_on",
}
