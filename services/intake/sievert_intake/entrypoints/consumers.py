"""What intake's consumer does with the events it reads: the end of a closed case's retention
(deadlines' ``CaseRetentionExpired`` on the cases topic) shreds the patient's identifiers as
erasure does, inside the consumer's transaction, audited with the event's correlation id."""

from __future__ import annotations

from sievert_intake.adapters.identity_vault import IdentifierVault
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import CaseRetentionExpired
from sievert_shared.handlers import EventHandlers


async def on_retention_expired(
    conn: Connection, envelope: EventEnvelope, event: CaseRetentionExpired
) -> None:
    await IdentifierVault.retention_expired(
        conn,
        envelope.stream_id,
        trust=envelope.tenant.trust,
        retain_until=event.retain_until,
        correlation_id=envelope.correlation_id,
    )


def consumer_handlers() -> EventHandlers:
    handlers = EventHandlers()
    handlers.add(CaseRetentionExpired, on_retention_expired)
    return handlers
