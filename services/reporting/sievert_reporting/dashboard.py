"""Reporting's changes for dashboards (topic ``dashboard``), so a dashboard subscribes instead of
polling (issue 6, item 9).

Commands add ``SubmissionStatusChanged`` and ``ThemeUpdated`` to their own transaction. Deadline
windows, and submissions the trust made outside Sievert (recorded through the deadlines service),
change through the consumer, so the live consumer's handlers are the projection's plus a
``DeadlineCountsChanged`` or ``SubmissionStatusChanged`` written to the outbox in the same
transaction as the projected change. A replay uses the bare projection handlers: rebuilding the
read model announces nothing new.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from sievert_reporting.projection import (
    HANDLERS,
    apply_external_submission,
    on_deadline,
    on_external_submission,
    submission_id_for,
)
from sievert_shared.consumer import Handler
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import DeadlineCountsChanged, Event, NotificationSubmitted
from sievert_shared.events.reporting import SubmissionKind, SubmissionStatusChanged
from sievert_shared.runtime import ServiceRuntime

_NAMESPACE = uuid.UUID("2b0f8f36-4c36-4a0e-9b7e-1d0c5f1d7a3e")
DUE_SOON = dt.timedelta(days=7)


def trust_stream(trust: str) -> uuid.UUID:
    """The dashboard stream (and Kafka key) of a trust's counts, so they stay in order."""
    return uuid.uuid5(_NAMESPACE, f"trust/{trust}")


def deadline_counts(
    trust: str, rows: list[tuple[str, dt.datetime]], now: dt.datetime
) -> DeadlineCountsChanged:
    """Counts of a trust's windows by status; "due soon" is an open window closing within 7 days."""
    by_status = {"open": 0, "missed": 0, "met": 0}
    due_soon = 0
    for status, due_at in rows:
        if status in by_status:
            by_status[status] += 1
        if status == "open" and now <= due_at <= now + DUE_SOON:
            due_soon += 1
    return DeadlineCountsChanged(trust=trust, due_within_7_days=due_soon, **by_status)


def live_handlers(runtime: ServiceRuntime) -> Mapping[str, Handler]:
    async def on_deadline_and_count(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
        await on_deadline(conn, envelope, event)
        trust = envelope.tenant.trust
        rows = await conn.fetch(
            """SELECT d.value ->> 'status' AS status, (d.value ->> 'due_at')::timestamptz AS due_at
               FROM incidents i, jsonb_each(i.deadlines) d WHERE i.trust = $1""",
            trust,
        )
        counts = deadline_counts(trust, [(r["status"], r["due_at"]) for r in rows], runtime.clock.now())
        await runtime.emitter.emit(
            conn,
            [counts],
            stream_id=trust_stream(trust),
            tenant=envelope.tenant,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
        )

    async def on_external_submission_and_announce(
        conn: Connection, envelope: EventEnvelope, event: Event
    ) -> None:
        if not await apply_external_submission(conn, envelope, event):
            return
        kind = (
            SubmissionKind.NOTIFICATION
            if isinstance(event, NotificationSubmitted)
            else SubmissionKind.INVESTIGATION_REPORT
        )
        changed = SubmissionStatusChanged(
            submission_id=submission_id_for(envelope.stream_id, kind),
            kind=kind,
            status="submitted",
            channel="external",
        )
        await runtime.emitter.emit(
            conn,
            [changed],
            stream_id=envelope.stream_id,
            tenant=envelope.tenant,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
            actor=envelope.actor,
        )

    live: dict[Handler, Handler] = {
        on_deadline: on_deadline_and_count,
        on_external_submission: on_external_submission_and_announce,
    }
    return {name: live.get(handler, handler) for name, handler in HANDLERS.items()}
