"""The projection of the cases topic (every case event but ``SimilarIncidentsConfirmed``, which the
documents read): the local investigation and the authority's correspondence (reporting's own
events, applied when a command makes them and again by a replay), and the case's status and
people's tasks (the deadlines service's). Each handler loads its row, applies the pure rule
(``domain.local_investigation.apply``, ``domain.case_record``) behind its version guard, and
stores it: the live consumer and ``sievert replay reporting`` apply these same handlers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import get_args

from sievert_reporting.adapters import case_store
from sievert_reporting.domain import local_investigation
from sievert_reporting.domain.case_record import (
    CaseStatusEvent,
    TaskEvent,
    TaskState,
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


_TASK_TYPES = frozenset(e.event_type for e in TASK_EVENTS)


class TasksReadAhead:
    """People's tasks a batch's task events are about, locked and read in one statement before the
    first of them (the consumer's ``before_batch``), where each event read its own and then
    stored it, two round trips an event. Each handler then takes its task from here and changes
    it here, for the batch's next event about it, and the tasks changed are written together in
    one statement once the handlers are done (``write``, in the consumer's ``after_batch``).

    As ``RowsReadAhead`` (the incident rows), what it holds is only ever what the transaction in
    progress read and changed since its handlers started: each pass of the consumer over a batch
    starts afresh here, and a pass that isolates events in savepoints reads nothing ahead, so
    there each handler reads and stores its own task (``on_task_event``) within its savepoint."""

    def __init__(self) -> None:
        self._conn: Connection | None = None
        #: every task read, None for one that does not exist yet
        self._tasks: dict[uuid.UUID, TaskState | None] = {}
        self._changed: dict[uuid.UUID, case_store.StoredTask] = {}

    async def read(self, conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
        self._conn, self._tasks, self._changed = None, {}, {}
        task_ids = {
            uuid.UUID(str(e.payload["task_id"]))
            for e in envelopes
            if e.event_type in _TASK_TYPES and "task_id" in e.payload
        }
        if task_ids:
            found = await case_store.tasks(conn, task_ids)
            self._tasks = {task_id: found.get(task_id) for task_id in task_ids}
            self._conn = conn  # a pass that read ahead: its tasks are written at its end

    async def on_task_event(self, conn: Connection, envelope: EventEnvelope, event: TaskEvent) -> None:
        if conn is not self._conn:  # nothing read ahead (a pass in savepoints): as the projection
            await on_task_event(conn, envelope, event)
            return
        if event.task_id not in self._tasks:  # its id was not where the read ahead looked
            self._tasks[event.task_id] = await case_store.task(conn, event.task_id)
        changed = apply_task_event(self._tasks[event.task_id], event, envelope.stream_version)
        if changed is None:
            return
        self._tasks[event.task_id] = changed
        earlier = self._changed.get(event.task_id)
        self._changed[event.task_id] = case_store.StoredTask(
            state=changed,
            incident_id=envelope.stream_id,
            trust=envelope.tenant.trust,
            site=envelope.tenant.site,
            # as storing each event's change in turn would leave it: the latest of their instants
            recorded_at=max(envelope.recorded_at, earlier.recorded_at) if earlier else envelope.recorded_at,
        )

    async def write(self, conn: Connection) -> None:
        """Write the tasks the pass's handlers changed, in one statement."""
        if conn is not self._conn or not self._changed:
            return
        changed, self._changed = list(self._changed.values()), {}
        await case_store.store_tasks(conn, changed)


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
