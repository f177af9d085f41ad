"""What the deadlines consumer does with each event it reads: classifications open, move or
cancel windows and then people's tasks; submissions and the local investigation's close-out meet
windows; the authority's correspondence and closure, and the investigation's reopening, move the
case; reporting's confirmation of similar incidents completes that task. Intake's facts give the
modality that sets how long a closed case is kept. The services apply each inside the consumer's
transaction (the tasks that follow the report window are moved by the windows' own events, in the
same transaction: ``DeadlinesService`` tells ``TasksService``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.service_layer.tasks import TasksService
from sievert_deadlines.service_layer.unit import Unit
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
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
    SimilarIncidentsConfirmed,
)
from sievert_shared.handlers import EventHandlers

E = TypeVar("E", bound=Event)
Apply = Callable[[Unit, EventEnvelope, E], Awaitable[None]]


def consumer_handlers(
    service: DeadlinesService, tasks: TasksService, *, batched: bool = False
) -> EventHandlers:
    """The consumer's handlers. Each event's changes are written when its handler returns; with
    ``batched``, once per batch instead, after its last event (the consumer's ``after_batch``):
    one statement per kind of write for the whole batch, in the same transaction; and the state
    its events read is read before the first (``before_batch``), one statement per kind of read."""
    # Intake's facts only set the modality; every other event reads its incident's state.
    batches = (
        Batches(service.write, sets_only={IncidentReported.event_type, IncidentFactsAmended.event_type})
        if batched
        else None
    )
    handlers = EventHandlers(
        after_batch=batches.write if batches else None, before_batch=batches.read_ahead if batches else None
    )

    def add(event_class: type[E], apply: Apply[E]) -> None:
        async def handle(conn: Connection, envelope: EventEnvelope, event: E) -> None:
            if batches is not None:
                await batches.apply(conn, apply, envelope, event)
                return
            unit = Unit(conn)
            await apply(unit, envelope, event)
            await service.write(unit)

        handle.__qualname__ = getattr(apply, "__qualname__", handle.__qualname__)
        handlers.add(event_class, handle)

    async def on_classification(
        unit: Unit, envelope: EventEnvelope, event: IncidentClassified | IncidentReclassified
    ) -> None:
        # Windows first (it locks the case's deadlines row), then the tasks under that lock.
        await service.apply_classification(unit, envelope, event)
        await tasks.apply_classification(unit, envelope, event)

    add(IncidentClassified, on_classification)
    add(IncidentReclassified, on_classification)
    add(NotificationSubmitted, service.apply_submission)
    add(InvestigationReportSubmitted, service.apply_submission)
    add(IncidentReported, service.apply_incident_facts)
    add(IncidentFactsAmended, service.apply_incident_facts)
    add(LocalInvestigationClosed, service.apply_local_investigation_closed)
    add(LocalInvestigationReopened, service.apply_local_investigation_reopened)
    add(AuthorityClosedCase, service.apply_authority_closed)
    add(AuthorityQueryReceived, service.apply_authority_query)
    add(AuthorityQueryAnswered, service.apply_authority_query)
    add(SimilarIncidentsConfirmed, tasks.apply_similar_incidents_confirmed)
    return handlers


class Batches:
    """The ``Unit`` of the consumer's batch in progress: its events' handlers read and change it,
    and the consumer's ``after_batch`` writes it before the transaction commits.

    A unit belongs to one transaction. A batch whose transaction rolled back (an event or the
    write failed, or PostgreSQL went away) never reaches ``after_batch``, and the consumer reads
    the batch again: the next event then comes on another connection, or is one the unit applied
    already, and the unit is dropped. That retry writes each event as its handler returns, as
    without batching, so a write PostgreSQL refuses fails with its own event (which the
    consumer's one-savepoint-per-event pass dead-letters) rather than with the whole batch again.
    An event whose handler fails has its changes taken back from the unit, as its savepoint
    takes back its statements.

    ``read_ahead`` (the consumer's ``before_batch``) starts each pass over a batch with a new
    unit, holding the state of every incident the batch's events will read. The consumer gives it
    no events on the passes that isolate events in savepoints, so that what a unit holds ahead of
    them is only ever what the transaction itself read before any savepoint."""

    def __init__(
        self, write: Callable[[Unit], Awaitable[None]], *, sets_only: frozenset[str] | set[str] = frozenset()
    ) -> None:
        """``sets_only``: the event types whose handlers read no state (nothing to read ahead)."""
        self._write = write
        self._sets_only = frozenset(sets_only)
        self._unit: Unit | None = None
        self._one_by_one = False
        self._unwritten = False  # the last unit's write did not complete

    def _unit_for(self, conn: Connection, envelope: EventEnvelope) -> Unit:
        unit = self._unit
        if unit is not None and unit.conn is conn and envelope.event_id not in unit.applied:
            return unit
        return self._start(conn)

    def _start(self, conn: Connection) -> Unit:
        unit = self._unit
        # A unit that applied events and was never written belongs to a transaction that rolled back.
        self._one_by_one = self._unwritten or (unit is not None and bool(unit.applied))
        self._unwritten = False
        self._unit = Unit(conn)
        return self._unit

    async def read_ahead(self, conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
        unit = self._start(conn)
        reading = [e for e in envelopes if e.event_type not in self._sets_only]
        if reading:
            await unit.preload((e.stream_id for e in reading), (e.tenant.trust for e in reading))

    async def apply(self, conn: Connection, apply: Apply[E], envelope: EventEnvelope, event: E) -> None:
        unit = self._unit_for(conn, envelope)
        mark = unit.mark()
        try:
            await apply(unit, envelope, event)
            if self._one_by_one:
                await self._write(unit)
        except BaseException:
            unit.undo(mark)
            raise
        unit.applied.add(envelope.event_id)

    async def write(self, conn: Connection, _envelopes: Sequence[EventEnvelope]) -> None:
        unit, self._unit = self._unit, None
        if unit is None or unit.conn is not conn:
            return
        self._unwritten = True
        await self._write(unit)
        self._unwritten = False
