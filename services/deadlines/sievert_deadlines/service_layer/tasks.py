"""People's tasks on a case, the application layer: apply classifications and reporting's
confirmations (called by the deadlines consumer inside its transaction, after the windows), follow
the report window's events (handed over by ``DeadlinesService`` inside the transaction that emits
them), fire due task timers, assign and complete tasks for people, and read them.

Each change runs in one transaction that stores the aggregate, its timers and the events it emits
(through the outbox) together, exactly as the windows do (``service_layer/deadlines.py``), and under the
case's ``incident_deadlines`` row lock, taken first as on every path of the windows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sievert_deadlines.adapters import store, tasks_store
from sievert_deadlines.adapters.tasks_store import TaskFilter
from sievert_deadlines.domain.calendar import LONDON
from sievert_deadlines.domain.tasks import (
    Classification,
    Completion,
    EmployerDuty,
    IncidentTasks,
    ReportChange,
    ReportSignal,
    TaskDecision,
    assign,
    classified,
    complete,
    fire_task_timer,
    report_window_followed,
    similar_incidents_confirmed,
)
from sievert_deadlines.service_layer.unit import Unit
from sievert_shared.decision import ClassificationDecision, notifying_employer_of
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.errors import NotFoundError
from sievert_shared.events import (
    DeadlineApproaching,
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineMissed,
    DeadlineScheduled,
    Event,
    IncidentClassified,
    IncidentReclassified,
    SimilarIncidentsConfirmed,
    TaskKind,
    Window,
)
from sievert_shared.logging import get_logger
from sievert_shared.outbox import Emission
from sievert_shared.runtime import RuntimeBound, ServiceRuntime

log = get_logger(__name__)

ReportWindowEvent = (
    DeadlineScheduled
    | DeadlineExtended
    | DeadlineApproaching
    | DeadlineMissed
    | DeadlineMet
    | DeadlineCancelled
)

_CHANGES: dict[type[Event], ReportChange] = {
    DeadlineScheduled: ReportChange.SCHEDULED,
    DeadlineExtended: ReportChange.EXTENDED,
    DeadlineApproaching: ReportChange.REMINDED,
    DeadlineMissed: ReportChange.MISSED,
    DeadlineMet: ReportChange.MET,
    DeadlineCancelled: ReportChange.CANCELLED,
}


class NoTasksError(NotFoundError):
    """No tasks are kept for the incident for this caller: not classified yet, or another trust's
    (to that caller it does not exist: 404, so ids of other trusts cannot be probed)."""

    def __init__(self, incident_id: uuid.UUID) -> None:
        super().__init__(f"no tasks for incident {incident_id} (not classified yet?)")


def employer_duty(decision: ClassificationDecision, trust: str) -> EmployerDuty | None:
    """Who of several employers notifies, as the decision's ``employers`` reason names it, and
    whether it is ``trust`` (the case's)."""
    notifier = notifying_employer_of(decision)
    if notifier is None:
        return None
    name, code = notifier
    return EmployerDuty(name, code == trust)


def _days(reminder: str) -> int | None:
    """``P14D`` -> 14."""
    if reminder.startswith("P") and reminder.endswith("D") and reminder[1:-1].isdigit():
        return int(reminder[1:-1])
    return None


class TasksService(RuntimeBound):
    def __init__(self, runtime: ServiceRuntime) -> None:
        super().__init__(runtime)
        self.fired_total = 0

    # -- in the transactions of the windows (the consumer's, a timer firing's, a command's) ---
    # Every path that changes a case's tasks holds the case's ``incident_deadlines`` row first,
    # as every path of the windows does: one lock order per incident (deadlines, tasks, stream
    # versions), so a batch of the consumer and a firing of timers never deadlock.

    async def apply_classification(
        self, unit: Unit, envelope: EventEnvelope, event: IncidentClassified | IncidentReclassified
    ) -> None:
        """After the windows applied the same classification, in the consumer's transaction."""
        loaded = await unit.tasks(envelope.stream_id)
        decision = event.decision
        result = classified(
            loaded.case if loaded else None,
            incident_id=envelope.stream_id,
            classification=Classification(
                status=decision.status,
                notifiable=decision.notifiable,
                csaue=decision.csaue,
                codes=decision.codes,
                other_bodies=decision.other_bodies,
                employers=employer_duty(decision, envelope.tenant.trust),
            ),
            discovered_on=event.discovered_on,
            policy=await unit.policy(envelope.tenant.trust),
            now=self._clock.now(),
        )
        self._apply_caused(unit, result, loaded, envelope.tenant, envelope.correlation_id, envelope)

    async def on_window_events(
        self,
        unit: Unit,
        incident_id: uuid.UUID,
        tenant: Tenant,
        correlation_id: str,
        events: Sequence[Event],
        cause: EventEnvelope | None,
    ) -> None:
        """What the windows just emitted for the incident, in the same transaction: the report
        window's events move the tasks that follow it."""
        report_events = [
            e for e in events if isinstance(e, ReportWindowEvent) and e.window is Window.INVESTIGATION_REPORT
        ]
        if not report_events:
            return
        loaded = await unit.tasks(incident_id)
        result = report_window_followed(
            loaded.case if loaded else None,
            incident_id=incident_id,
            signals=[
                ReportSignal(
                    _CHANGES[type(e)],
                    e.due_at,
                    days_left=_days(e.reminder) if isinstance(e, DeadlineApproaching) else None,
                    discovered_on=e.discovered_on if isinstance(e, DeadlineScheduled) else None,
                )
                for e in report_events
            ],
            policy=await unit.policy(tenant.trust),
            now=self._clock.now(),
        )
        self._apply_caused(unit, result, loaded, tenant, correlation_id, cause)

    async def apply_similar_incidents_confirmed(
        self, unit: Unit, envelope: EventEnvelope, event: SimilarIncidentsConfirmed
    ) -> None:
        """Reporting's confirmation (topic cases), in the windows consumer's transaction."""
        if await unit.case(envelope.stream_id) is None:  # locks the case's deadlines row first
            log.info("tasks.confirmation_before_classification", incident_id=str(envelope.stream_id))
            return
        loaded = await unit.tasks(envelope.stream_id)
        result = similar_incidents_confirmed(
            loaded.case if loaded else None,
            confirmed_by_role=event.confirmed_by_role,
            confirmed_on=event.confirmed_on,
            summary=event.summary,
            edited=event.edited,
            now=self._clock.now(),
        )
        if result is None or loaded is None:
            log.info("tasks.confirmation_without_open_task", incident_id=str(envelope.stream_id))
            return
        self._apply(unit, result, loaded, cause=envelope)

    # -- commands ----------------------------------------------------------------------------

    async def assign(
        self,
        incident_id: uuid.UUID,
        task_id: uuid.UUID,
        *,
        owner_role: str,
        assigned_by_role: str,
        expected_version: int | None,
        actor: str | None,
    ) -> dict[str, Any]:
        async with self._pool.acquire() as conn, conn.transaction():
            unit = Unit(conn)
            loaded = await self._load(unit, incident_id)
            result = assign(
                loaded.case,
                task_id=task_id,
                owner_role=owner_role,
                assigned_by_role=assigned_by_role,
                expected_version=expected_version,
            )
            self._apply(unit, result, loaded, actor=actor)
            await unit.flush(self._emitter, self._clock.now())
        return await self._task(incident_id, task_id)

    async def complete(
        self, incident_id: uuid.UUID, task_id: uuid.UUID, completion: Completion, *, actor: str | None
    ) -> dict[str, Any]:
        """Two people completing at once: the aggregate's row lock orders them; the second finds the
        task done and gets the same answer (same record) or a conflict (another record)."""
        async with self._pool.acquire() as conn, conn.transaction():
            unit = Unit(conn)
            loaded = await self._load(unit, incident_id)
            result = complete(loaded.case, task_id=task_id, completion=completion, now=self._clock.now())
            self._apply(unit, result, loaded, actor=actor)
            await unit.flush(self._emitter, self._clock.now())
        return await self._task(incident_id, task_id)

    def today(self) -> dt.date:
        return self._clock.now().astimezone(LONDON).date()

    # -- reads ---------------------------------------------------------------------------------

    async def trust_of(self, incident_id: uuid.UUID) -> str:
        """The trust of the case; ``NoTasksError`` if no tasks are kept for it (not classified)."""
        async with self._pool.acquire() as conn:
            trust = await tasks_store.tenant_of(conn, incident_id)
        if trust is None:
            raise NoTasksError(incident_id)
        return trust

    async def incident_tasks(self, incident_id: uuid.UUID) -> list[dict[str, Any]]:
        """The case's tasks, soonest due first, then by kind."""
        async with self._pool.acquire() as conn:
            return await tasks_store.incident_tasks(conn, incident_id, self._clock.now())

    async def list_tasks(
        self,
        *,
        trust: str | None,
        site: str | None,
        status: TaskFilter | None,
        kind: TaskKind | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            return await tasks_store.list_tasks(
                conn, now=self._clock.now(), trust=trust, site=site, status=status, kind=kind, limit=limit
            )

    async def _task(self, incident_id: uuid.UUID, task_id: uuid.UUID) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            tasks = await tasks_store.incident_tasks(conn, incident_id, self._clock.now())
        return next(t for t in tasks if t["task_id"] == str(task_id))

    async def _load(self, unit: Unit, incident_id: uuid.UUID) -> tasks_store.Loaded:
        """The case, locked after its deadlines row (the one lock order)."""
        loaded = await unit.tasks(incident_id) if await store.lock(unit.conn, incident_id) else None
        if loaded is None:
            raise NoTasksError(incident_id)
        return loaded

    # -- the task timers, fired by the deadlines timer loop -----------------------------------

    async def fire_due(self, *, batch_size: int = 500, stop: asyncio.Event | None = None) -> int:
        """Fire every task timer due now, one batch of cases per transaction. Returns how many."""
        fired = 0
        while stop is None or not stop.is_set():
            now = self._clock.now()
            async with self._pool.acquire() as conn, conn.transaction():
                claimed = await tasks_store.claim_due(conn, now, batch_size)
                if not claimed:
                    return fired
                cases = {row.case.incident_id: row for row in claimed}
                policies = await store.policies_for(conn, {row.tenant.trust for row in claimed})
                events: dict[uuid.UUID, list[Event]] = {incident: [] for incident in cases}
                timer_ids: list[int] = []
                for timer_id, timer in await tasks_store.due_timers(conn, list(cases), now):
                    row = cases[timer.incident_id]
                    events[timer.incident_id].extend(
                        fire_task_timer(timer, row.case, policies[row.tenant.trust], now)
                    )
                    timer_ids.append(timer_id)
                await tasks_store.delete_timers(conn, timer_ids)
                await self._emitter.emit_many(
                    conn,
                    [Emission(i, cases[i].tenant, cases[i].correlation_id, e) for i, e in events.items()],
                )
            fired += len(timer_ids)
            self.fired_total += len(timer_ids)
            log.info("deadlines.task_timers_fired", count=len(timer_ids))
        return fired

    # -- shared by every path ----------------------------------------------------------------

    def _apply_caused(
        self,
        unit: Unit,
        result: TaskDecision,
        loaded: tasks_store.Loaded | None,
        tenant: Tenant,
        correlation_id: str,
        cause: EventEnvelope | None,
    ) -> None:
        if loaded is None:  # a new case: stored even with no task, so its task list answers
            loaded = tasks_store.Loaded(IncidentTasks(result.tasks.incident_id), tenant, correlation_id)
            unit.save_tasks(loaded)
        self._apply(unit, result, loaded, cause=cause)

    def _apply(
        self,
        unit: Unit,
        result: TaskDecision,
        loaded: tasks_store.Loaded,
        *,
        cause: EventEnvelope | None = None,
        actor: str | None = None,
    ) -> None:
        """Store the case if it changed, then its timers and events, in the unit of the caller's
        transaction."""
        if result.tasks == loaded.case:
            return
        case = result.tasks
        unit.save_tasks(tasks_store.Loaded(case, loaded.tenant, loaded.correlation_id))
        unit.cancel_task_timers(case.incident_id, result.cancel_timers)
        unit.schedule_task_timers(result.schedule_timers)
        unit.emit(
            result.events,
            stream_id=case.incident_id,
            tenant=loaded.tenant,
            correlation_id=loaded.correlation_id,
            cause=cause,
            actor=actor,
        )
