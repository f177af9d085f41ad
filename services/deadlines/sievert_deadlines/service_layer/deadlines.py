"""The deadlines service's application layer: its use cases over the domain and the store.

Apply classifications, submissions and the case's events (called by the consumer inside its
transaction), fire due timers, extend the report window, record a submission made outside Sievert
or the authority's agreement to withdraw a notification, and read windows, cases and trust
policies for people. Each change runs in one transaction that stores the aggregate, its
timers and the events it emits (through the outbox) together.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from sievert_deadlines.adapters import queries, store
from sievert_deadlines.adapters.queries import StatusFilter
from sievert_deadlines.domain import (
    DeadlinePolicy,
    Decision,
    IncidentDeadlines,
    PlannedTimer,
    fire,
    on_authority_closed,
    on_authority_query_answered,
    on_authority_query_received,
    on_classified,
    on_extended,
    on_local_investigation_closed,
    on_local_investigation_reopened,
    on_submitted,
    on_withdrawal_agreed,
)
from sievert_deadlines.domain.case import WithdrawalRefusedError
from sievert_deadlines.service_layer.unit import Unit
from sievert_shared.db import Connection
from sievert_shared.decision import DecisionStatus
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.errors import NotFoundError
from sievert_shared.events import (
    AuthorityClosedCase,
    AuthorityQueryAnswered,
    AuthorityQueryReceived,
    Event,
    IncidentClassified,
    IncidentFactsAmended,
    IncidentReclassified,
    IncidentReported,
    InvestigationReportSubmitted,
    LocalInvestigationClosed,
    LocalInvestigationReopened,
    NotificationSubmitted,
    Window,
)
from sievert_shared.logging import get_logger
from sievert_shared.metrics import TimerMetrics
from sievert_shared.outbox import Emission
from sievert_shared.runtime import RuntimeBound, ServiceRuntime

log = get_logger(__name__)


CaseTransition = Callable[..., Decision]
"""A pure transition of ``domain.case``/``domain.windows``: ``(deadlines, *, policy, now, modality,
**facts) -> Decision``."""
"""A domain transition with the incident's policy, the time and its modality bound late."""


class CaseRead(NamedTuple):
    """An incident's aggregate and its windows as people read them, as one commit left them."""

    deadlines: IncidentDeadlines | None
    windows: list[dict[str, Any]]


class UnknownIncidentError(NotFoundError):
    """No deadlines are kept for the incident: it has not been classified (yet)."""

    def __init__(self, incident_id: uuid.UUID) -> None:
        super().__init__(f"no deadlines for incident {incident_id}")


class WindowEventsObserver(Protocol):
    """Told, inside the transaction, of every window event the service emits for an incident:
    how the case's tasks follow its report window in the same transaction, under the same lock."""

    async def __call__(
        self,
        unit: Unit,
        incident_id: uuid.UUID,
        tenant: Tenant,
        correlation_id: str,
        events: Sequence[Event],
        cause: EventEnvelope | None,
    ) -> None: ...


class FireDue(Protocol):
    """Another set of durable timers fired by the same loop (it logs what it fired)."""

    async def __call__(self, *, batch_size: int, stop: asyncio.Event | None) -> int: ...


class DeadlinesService(RuntimeBound):
    def __init__(self, runtime: ServiceRuntime, observers: Sequence[WindowEventsObserver] = ()) -> None:
        super().__init__(runtime)
        self._observers = tuple(observers)
        self.fired_total = 0

    # -- event handlers (called by the idempotent consumer inside its transaction) ----------
    # Each reads and changes the case through the transaction's ``Unit``, which the consumer
    # writes once per batch (``entrypoints/consumers.py``).

    async def write(self, unit: Unit) -> None:
        await unit.flush(self._emitter, self._clock.now())

    async def _one(
        self,
        apply: Callable[[Unit, EventEnvelope, Any], Any],
        conn: Connection,
        envelope: EventEnvelope,
        event: Event,
    ) -> None:
        unit = Unit(conn)
        await apply(unit, envelope, event)
        await self.write(unit)

    # One event on its own, written before the call returns (the consumer batches instead).

    async def on_classification(
        self, conn: Connection, envelope: EventEnvelope, event: IncidentClassified | IncidentReclassified
    ) -> None:
        await self._one(self.apply_classification, conn, envelope, event)

    async def on_local_investigation_closed(
        self, conn: Connection, envelope: EventEnvelope, event: LocalInvestigationClosed
    ) -> None:
        await self._one(self.apply_local_investigation_closed, conn, envelope, event)

    async def apply_classification(
        self, unit: Unit, envelope: EventEnvelope, event: IncidentClassified | IncidentReclassified
    ) -> None:
        current = await unit.case(envelope.stream_id)
        policy = await unit.policy(envelope.tenant.trust)
        classification = event.decision
        decision_status = classification.status
        decision = on_classified(
            current.deadlines if current else None,
            incident_id=envelope.stream_id,
            notifiable=classification.notifiable,
            status=decision_status,
            needs_facts=classification.needs_facts_for_notification,
            # The authority a provisional notification would go to is known from the nation.
            authority=classification.authority.value
            if decision_status is not DecisionStatus.NOT_NOTIFIABLE
            else None,
            discovered_on=event.discovered_on,
            theme_identified_on=event.theme_identified_on,
            policy=policy,
            now=self._clock.now(),
            modality=await unit.modality(envelope.stream_id),
        )
        correlation_id = current.correlation_id if current else envelope.correlation_id
        await self._apply(unit, decision, envelope.tenant, correlation_id, cause=envelope)

    async def apply_submission(
        self,
        unit: Unit,
        envelope: EventEnvelope,
        event: NotificationSubmitted | InvestigationReportSubmitted,
    ) -> None:
        window = (
            Window.NOTIFICATION if isinstance(event, NotificationSubmitted) else Window.INVESTIGATION_REPORT
        )
        submitted_at = event.submitted_at
        await self._on_case_event(unit, envelope, on_submitted, window=window, submitted_at=submitted_at)

    async def apply_incident_facts(
        self, unit: Unit, envelope: EventEnvelope, event: IncidentReported | IncidentFactsAmended
    ) -> None:
        """Remember the incident's modality: it sets how long the closed case is kept."""
        unit.set_modality(envelope.stream_id, event.facts.modality.value)

    async def apply_local_investigation_closed(
        self, unit: Unit, envelope: EventEnvelope, event: LocalInvestigationClosed
    ) -> None:
        await self._on_case_event(unit, envelope, on_local_investigation_closed, closed_on=event.closed_on)

    async def apply_local_investigation_reopened(
        self, unit: Unit, envelope: EventEnvelope, event: LocalInvestigationReopened
    ) -> None:
        await self._on_case_event(unit, envelope, on_local_investigation_reopened, reason=event.reason)

    async def apply_authority_closed(
        self, unit: Unit, envelope: EventEnvelope, event: AuthorityClosedCase
    ) -> None:
        await self._on_case_event(
            unit,
            envelope,
            on_authority_closed,
            authority=event.authority,
            closed_on=event.closed_on,
            reference=event.reference,
        )

    async def apply_authority_query(
        self,
        unit: Unit,
        envelope: EventEnvelope,
        event: AuthorityQueryReceived | AuthorityQueryAnswered,
    ) -> None:
        query_id = str(event.query_id)
        if isinstance(event, AuthorityQueryReceived):
            await self._on_case_event(unit, envelope, on_authority_query_received, query_id=query_id)
            return
        answered_on = event.answered_on
        await self._on_case_event(
            unit, envelope, on_authority_query_answered, query_id=query_id, answered_on=answered_on
        )

    async def _on_case_event(
        self, unit: Unit, envelope: EventEnvelope, transition: CaseTransition, **facts: Any
    ) -> None:
        """Apply ``transition`` with the event's ``facts`` to an incident's aggregate, inside the
        consumer's transaction. An event about an incident with no deadlines yet (not classified)
        is logged and skipped."""
        loaded = await unit.case(envelope.stream_id)
        if loaded is None:
            log.warning(
                "deadlines.case_event_before_classification",
                incident_id=str(envelope.stream_id),
                event_type=envelope.event_type,
            )
            return
        decision = transition(
            loaded.deadlines,
            policy=await unit.policy(loaded.tenant.trust),
            now=self._clock.now(),
            modality=await unit.modality(envelope.stream_id),
            **facts,
        )
        await self._apply(unit, decision, loaded.tenant, loaded.correlation_id, cause=envelope)

    # -- commands ----------------------------------------------------------------------------

    async def extend_report_window(
        self, incident_id: uuid.UUID, *, extended_to: dt.date, agreed_by: str, reason: str, actor: str | None
    ) -> IncidentDeadlines:
        async with self._pool.acquire() as conn, conn.transaction():
            loaded = await store.load(conn, incident_id)
            if loaded is None:
                raise UnknownIncidentError(incident_id)
            deadlines, tenant, correlation_id = loaded
            decision = on_extended(
                deadlines,
                window=Window.INVESTIGATION_REPORT,
                extended_to=extended_to,
                agreed_by=agreed_by,
                reason=reason,
                policy=await store.policy_for(conn, tenant.trust),
                now=self._clock.now(),
            )
            unit = Unit(conn)
            await self._apply(unit, decision, tenant, correlation_id, actor=actor)
            await self.write(unit)
            assert decision.deadlines is not None
            return decision.deadlines

    async def agree_withdrawal(
        self,
        incident_id: uuid.UUID,
        *,
        agreed_on: dt.date,
        authority_reference: str,
        recorded_by_role: str,
        expected_version: int | None,
        actor: str | None,
    ) -> tuple[IncidentDeadlines, list[dict[str, Any]], bool]:
        """Record the authority's agreement to withdraw the notification. The aggregate row is
        locked, so of two people recording at once one wins; the other then sees the agreement:
        the same one answers the same (no new event), another one 409 with the current version.
        Returns the aggregate, its windows as this transaction left them (read under the lock:
        nothing committed later slips in between), and whether this call changed it."""
        async with self._pool.acquire() as conn, conn.transaction():
            loaded = await store.load(conn, incident_id)
            if loaded is None:
                raise UnknownIncidentError(incident_id)
            deadlines, tenant, correlation_id = loaded
            decision = on_withdrawal_agreed(
                deadlines,
                agreed_on=agreed_on,
                authority_reference=authority_reference,
                recorded_by_role=recorded_by_role,
                policy=await store.policy_for(conn, tenant.trust),
                now=self._clock.now(),
                modality=await store.modality_of(conn, incident_id),
            )
            changed = decision.deadlines != deadlines
            if changed and expected_version is not None and expected_version != deadlines.version:
                raise WithdrawalRefusedError(
                    f"the case changed since version {expected_version}", version=deadlines.version
                )
            unit = Unit(conn)
            await self._apply(unit, decision, tenant, correlation_id, actor=actor)
            await self.write(unit)
            assert decision.deadlines is not None
            windows = await queries.incident_windows(conn, incident_id, self._clock.now())
            return decision.deadlines, windows, changed

    async def record_submission(
        self,
        incident_id: uuid.UUID,
        event: NotificationSubmitted | InvestigationReportSubmitted,
        actor: str | None,
    ) -> None:
        """Publish a submission made outside Sievert; the consumer then meets the window."""
        async with self._pool.acquire() as conn, conn.transaction():
            loaded = await store.load(conn, incident_id)
            if loaded is None:
                raise UnknownIncidentError(incident_id)
            _, tenant, correlation_id = loaded
            await self._emitter.emit(
                conn,
                [event],
                stream_id=incident_id,
                tenant=tenant,
                correlation_id=correlation_id,
                actor=actor,
            )

    # -- reads ---------------------------------------------------------------------------------

    async def list_windows(
        self,
        *,
        trust: str | None,
        site: str | None,
        status: StatusFilter | None,
        window: str | None,
        due_soon_days: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Windows, soonest due first, as people and dashboards read them."""
        async with self._pool.acquire() as conn:
            return await queries.list_windows(
                conn,
                now=self._clock.now(),
                trust=trust,
                site=site,
                status=status,
                window=window,
                due_soon_days=due_soon_days,
                limit=limit,
            )

    async def incident_windows(self, incident_id: uuid.UUID) -> list[dict[str, Any]]:
        """The incident's windows, soonest due first; none if it is not classified (yet)."""
        async with self._pool.acquire() as conn:
            return await queries.incident_windows(conn, incident_id, self._clock.now())

    async def incident_deadlines(self, incident_id: uuid.UUID) -> CaseRead:
        """The incident's windows and its aggregate (its case and version) from one snapshot.

        The consumer rewrites both in one transaction, but two reads on their own would each see
        the last commit at the time: one committed between them shows a case closed on its local
        investigation beside its local window still open. Under repeatable read, both statements
        see the same commit."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            windows = await queries.incident_windows(conn, incident_id, self._clock.now())
            return CaseRead(await store.read(conn, incident_id), windows)

    async def policy(self, trust: str) -> DeadlinePolicy:
        async with self._pool.acquire() as conn:
            return await store.policy_for(conn, trust)

    async def set_policy(self, trust: str, policy: DeadlinePolicy) -> None:
        """Applies to windows opened from now on; windows already open keep the plan they have."""
        async with self._pool.acquire() as conn:
            await store.set_policy(conn, trust, policy, self._clock.now())

    # -- the timer wheel ---------------------------------------------------------------------

    async def fire_due(
        self, *, batch_size: int = 500, stop: asyncio.Event | None = None, concurrency: int = 1
    ) -> int:
        """Fire every timer due now, one batch of incidents per transaction. Returns how many.

        Each batch costs a fixed number of round trips (claim, read, delete, insert, emit),
        not a number per incident: the database, not Python, was the bottleneck.

        ``concurrency`` batches run at once, each in its own transaction on its own connection,
        so one batch's Python runs while another waits on PostgreSQL. They claim as replicas do
        (``SKIP LOCKED`` on the incidents' rows), so no two share an incident: each incident's
        due timers still fire in one transaction, in order, once.
        """
        if concurrency <= 1:
            return await self._fire_batches(batch_size, stop)
        workers = [asyncio.create_task(self._fire_batches(batch_size, stop)) for _ in range(concurrency)]
        try:
            return sum(await asyncio.gather(*workers))
        finally:
            # One batch failed (its transaction rolled back): the others stop too, so the loop's
            # supervisor sees the error as it would from one batch; a batch in flight rolls back.
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _fire_batches(self, batch_size: int, stop: asyncio.Event | None) -> int:
        """Fire batches until a claim finds nothing due that no one else holds."""
        fired = 0
        while stop is None or not stop.is_set():
            now = self._clock.now()
            async with self._pool.acquire() as conn, conn.transaction():
                claimed = await store.claim_due_incidents(conn, now, batch_size)
                if not claimed:
                    return fired
                aggregates = {row.deadlines.incident_id: row for row in claimed}
                policies = await store.policies_for(conn, {row.tenant.trust for row in claimed})
                by_incident: dict[uuid.UUID, list[PlannedTimer]] = defaultdict(list)
                timer_ids: list[int] = []
                for timer_id, timer in await store.due_timers(conn, list(aggregates), now):
                    by_incident[timer.incident_id].append(timer)
                    timer_ids.append(timer_id)
                following: list[PlannedTimer] = []
                emissions: list[Emission] = []
                for incident_id, timers in by_incident.items():
                    row = aggregates[incident_id]
                    policy = policies[row.tenant.trust]
                    events: list[Event] = []
                    for timer in timers:
                        firing = fire(timer, row.deadlines, policy, now)
                        events.extend(firing.events)
                        if firing.next_timer is not None:
                            following.append(firing.next_timer)
                    emissions.append(Emission(incident_id, row.tenant, row.correlation_id, events))
                await store.delete_timers(conn, timer_ids)
                await store.schedule_timers(conn, following)
                await self._emitter.emit_many(conn, emissions)
                # The tasks that follow the report window, for every incident of the batch at once.
                unit = Unit(conn)
                await unit.preload_tasks(e.stream_id for e in emissions if _moves_tasks(e.events))
                for e in emissions:
                    await self._notify(unit, e.stream_id, e.tenant, e.correlation_id, e.events, None)
                await self.write(unit)
            fired += len(timer_ids)
            self.fired_total += len(timer_ids)
            self._observe_fired([t for timers in by_incident.values() for t in timers], now)
        return fired

    def _observe_fired(self, timers: Sequence[PlannedTimer], now: dt.datetime) -> None:
        """After the commit: each timer fired, and how long after its instant."""
        metrics = TimerMetrics.of(self._runtime.metrics)
        # Labels looked up once per kind, not per timer: a batch holds hundreds of one kind.
        by_kind: dict[str, list[float]] = defaultdict(list)
        for timer in timers:
            by_kind[timer.kind.value].append((now - timer.fire_at).total_seconds())
        for kind, lateness in by_kind.items():
            metrics.fired.labels(kind).inc(len(lateness))
            histogram = metrics.lateness.labels(kind)
            for seconds in lateness:
                histogram.observe(max(0.0, seconds))

    async def timer_gauges(self) -> None:
        """Timers pending, the oldest due one's wait and the overdue windows, for a scrape."""
        metrics = TimerMetrics.of(self._runtime.metrics)
        async with self._pool.acquire(timeout=1) as conn:
            gauges = await store.timer_gauges(conn, self._clock.now())
        metrics.pending.set(gauges.pending)
        metrics.oldest_due_age.set(gauges.oldest_due_age)
        metrics.windows_overdue.clear()
        for (trust, window), count in gauges.overdue.items():
            metrics.windows_overdue.labels(trust, window).set(count)

    async def run_timers(
        self,
        stop: asyncio.Event,
        *,
        poll_seconds: float,
        batch_size: int,
        concurrency: int = 1,
        also_fire: Sequence[FireDue] = (),
    ) -> None:
        """Fire due timers (and those of ``also_fire``, e.g. people's tasks), then sleep until the
        next window timer is due or ``poll_seconds`` passes."""
        while not stop.is_set():
            fired = await self.fire_due(batch_size=batch_size, stop=stop, concurrency=concurrency)
            if fired:
                log.info("deadlines.timers_fired", count=fired)
            for fire_others in also_fire:
                await fire_others(batch_size=batch_size, stop=stop)
            async with self._pool.acquire() as conn:
                next_at = await store.next_fire_at(conn)
            wait = poll_seconds
            if next_at is not None:
                # Due timers that another replica holds locked: back off briefly instead of spinning.
                wait = min(poll_seconds, max(0.05, (next_at - self._clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    # -- shared by every path ----------------------------------------------------------------

    async def _apply(
        self,
        unit: Unit,
        decision: Decision,
        tenant: Tenant,
        correlation_id: str,
        *,
        cause: EventEnvelope | None = None,
        actor: str | None = None,
    ) -> None:
        if decision.deadlines is None:
            return
        incident_id = decision.deadlines.incident_id
        unit.save_case(store.Case(decision.deadlines, tenant, correlation_id))
        unit.cancel_timers(incident_id, decision.cancel_timers)
        unit.schedule_timers(decision.schedule_timers)
        unit.emit(
            decision.events,
            stream_id=incident_id,
            tenant=tenant,
            correlation_id=correlation_id,
            cause=cause,
            actor=actor,
        )
        await self._notify(unit, incident_id, tenant, correlation_id, decision.events, cause)

    async def _notify(
        self,
        unit: Unit,
        incident_id: uuid.UUID,
        tenant: Tenant,
        correlation_id: str,
        events: Sequence[Event],
        cause: EventEnvelope | None,
    ) -> None:
        if events:
            for observer in self._observers:
                await observer(unit, incident_id, tenant, correlation_id, events, cause)


def _moves_tasks(events: Sequence[Event]) -> bool:
    """Whether the report window's tasks follow any of these events (``TasksService``)."""
    return any(getattr(e, "window", None) is Window.INVESTIGATION_REPORT for e in events)
