"""The projection of the cases topic (every case event but ``SimilarIncidentsConfirmed``, which the
documents read): the local investigation and the authority's correspondence (reporting's own
events, applied when a command makes them and again by a replay), and the case's status and
people's tasks (the deadlines service's). Each handler loads its row, applies the pure rule
(``domain.local_investigation.apply``, ``domain.case_record``) behind its version guard, and
stores it: the live consumer and ``sievert replay reporting`` apply these same handlers.
"""

from __future__ import annotations

from typing import get_args

from sievert_reporting.adapters import case_store
from sievert_reporting.domain import local_investigation
from sievert_reporting.domain.case_record import (
    CaseStatusEvent,
    TaskEvent,
    apply_case_event,
    apply_task_event,
)
from sievert_reporting.domain.correspondence import Closure
from sievert_reporting.domain.local_investigation import InvestigationEvent
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    AuthorityClosedCase,
    AuthorityQueryAnswered,
    AuthorityQueryReceived,
)
from sievert_shared.handlers import EventHandlers

# Each handler's events are its union's members (``get_args``), so an event added to the union
# the rule applies is registered with it, never listed a second time here.
INVESTIGATION_EVENTS: tuple[type[InvestigationEvent], ...] = get_args(InvestigationEvent)
CASE_STATUS_EVENTS: tuple[type[CaseStatusEvent], ...] = get_args(CaseStatusEvent)
TASK_EVENTS: tuple[type[TaskEvent], ...] = get_args(TaskEvent)


def register_case_handlers(handlers: EventHandlers) -> None:
    """Add the cases topic's handlers to the projection's."""
    for investigation_event in INVESTIGATION_EVENTS:
        handlers.add(investigation_event, on_investigation_event)
    handlers.add(AuthorityQueryReceived, on_query_received)
    handlers.add(AuthorityQueryAnswered, on_query_answered)
    handlers.add(AuthorityClosedCase, on_authority_closed)
    for case_event in CASE_STATUS_EVENTS:
        handlers.add(case_event, on_case_event)
    for task_event in TASK_EVENTS:
        handlers.add(task_event, on_task_event)


# -- reporting's own: the local investigation and the authority's correspondence ------------------


async def on_investigation_event(
    conn: Connection, envelope: EventEnvelope, event: InvestigationEvent
) -> None:
    state, applied_version = await case_store.investigation(conn, envelope.stream_id)
    if envelope.stream_version <= applied_version:
        return  # applied already, or an older event arriving late
    await case_store.store_investigation(
        conn,
        incident_id=envelope.stream_id,
        trust=envelope.tenant.trust,
        site=envelope.tenant.site,
        state=local_investigation.apply(state, event, envelope.recorded_at),
        stream_version=envelope.stream_version,
        recorded_at=envelope.recorded_at,
    )


async def on_query_received(conn: Connection, envelope: EventEnvelope, event: AuthorityQueryReceived) -> None:
    await case_store.store_query_received(
        conn,
        query_id=event.query_id,
        incident_id=envelope.stream_id,
        trust=envelope.tenant.trust,
        site=envelope.tenant.site,
        authority=event.authority,
        received_on=event.received_on,
        summary=event.summary,
        recorded_by_role=event.recorded_by_role,
        stream_version=envelope.stream_version,
        recorded_at=envelope.recorded_at,
    )


async def on_query_answered(conn: Connection, envelope: EventEnvelope, event: AuthorityQueryAnswered) -> None:
    await case_store.store_query_answered(
        conn,
        query_id=event.query_id,
        answered_on=event.answered_on,
        answer=event.summary,
        answered_by_role=event.answered_by_role,
        stream_version=envelope.stream_version,
        recorded_at=envelope.recorded_at,
    )


async def on_authority_closed(conn: Connection, envelope: EventEnvelope, event: AuthorityClosedCase) -> None:
    await case_store.store_authority_closure(
        conn,
        incident_id=envelope.stream_id,
        trust=envelope.tenant.trust,
        site=envelope.tenant.site,
        closure=Closure(
            authority=event.authority,
            closed_on=event.closed_on,
            reference=event.reference,
            recorded_by_role=event.recorded_by_role,
            recorded_at=envelope.recorded_at,
        ),
        stream_version=envelope.stream_version,
    )


# -- the deadlines service's: the case's status and people's tasks --------------------------------


async def on_case_event(conn: Connection, envelope: EventEnvelope, event: CaseStatusEvent) -> None:
    incident_id, at = envelope.stream_id, envelope.recorded_at
    state = await case_store.case_state(conn, incident_id, envelope.tenant.trust, envelope.tenant.site, at)
    changed = apply_case_event(state, event, envelope.stream_version, at)
    if changed is not None:
        await case_store.store_case_state(conn, incident_id, changed, at)


async def on_task_event(conn: Connection, envelope: EventEnvelope, event: TaskEvent) -> None:
    changed = apply_task_event(await case_store.task(conn, event.task_id), event, envelope.stream_version)
    if changed is not None:
        await case_store.store_task(
            conn,
            incident_id=envelope.stream_id,
            trust=envelope.tenant.trust,
            site=envelope.tenant.site,
            state=changed,
            recorded_at=envelope.recorded_at,
        )
