"""Reporting's own events: written to the outbox and applied to the read model in the command's
transaction, through the projection consumer's own handlers, with their ids recorded as
processed, so the copy consumed back from Kafka changes nothing and a replay of the log rebuilds
exactly this state."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from sievert_reporting.adapters.read_model import mark_processed
from sievert_shared.consumer import Handler
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event
from sievert_shared.outbox import Emission, topic_of
from sievert_shared.runtime import ServiceRuntime


@dataclass(frozen=True)
class OwnEvents:
    runtime: ServiceRuntime
    #: the projection's handlers (what a replay applies)
    projection: Mapping[str, Handler]
    #: the projection consumer's key in ``processed_events``
    consumer: str

    async def emit_and_apply(
        self,
        conn: Connection,
        events: Sequence[Event],
        *,
        stream_id: uuid.UUID,
        tenant: Tenant,
        actor: str | None,
    ) -> list[EventEnvelope]:
        envelopes = await self.runtime.emitter.emit(
            conn, events, stream_id=stream_id, tenant=tenant, correlation_id=correlation_id(), actor=actor
        )
        await self._apply(conn, envelopes, events)
        return envelopes

    async def emit_many(self, conn: Connection, emissions: Sequence[Emission]) -> None:
        """Events for other services only (on other streams): nothing of them is projected here."""
        await self.runtime.emitter.emit_many(conn, emissions)

    async def _apply(
        self, conn: Connection, envelopes: Sequence[EventEnvelope], events: Sequence[Event]
    ) -> None:
        topics = self.runtime.settings.kafka.topics
        for envelope, event in zip(envelopes, events, strict=True):
            handler = self.projection.get(envelope.event_type)
            if handler is None:
                continue  # NotificationSubmitted, dashboard events etc.: for other consumers
            await mark_processed(conn, self.consumer, envelope.event_id, topic_of(event, topics))
            await handler(conn, envelope, event)


class OwnEventsService:
    """What reporting's command services share: their own events, and the runtime whose pool their
    transactions run on and whose clock they read."""

    def __init__(self, own_events: OwnEvents) -> None:
        self._own = own_events
        self._runtime = own_events.runtime

    @property
    def pool(self) -> asyncpg.Pool:
        return self._runtime.pool


def correlation_id() -> str:
    """The request's correlation id (bound by the HTTP middleware), or a new one."""
    bound = structlog.contextvars.get_contextvars().get("correlation_id")
    return str(bound) if bound else str(uuid.uuid4())
