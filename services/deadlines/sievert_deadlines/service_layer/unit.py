"""One transaction's changes to cases, tasks, timers and the outbox, written when it ends.

The consumer applies a fetched batch of events in one transaction. Written one event at a time,
each event cost a dozen or more statements (save the case, rewrite its windows, cancel and
schedule timers, number and enqueue its events, then the same again for its tasks), each a round
trip: the deadlines process spent most of its time waiting on them. A ``Unit`` keeps what the
events of the transaction read and change in memory instead, so a later event of the batch sees
what an earlier one did, and ``flush`` writes it all with one statement per kind of write for
every incident touched.

What stays the same: each aggregate row is locked (``FOR UPDATE``) when first read, before any
change, in the same order as before (the case's deadlines row, then its tasks row); the effects
are written in the consumer's transaction, with the event ids it records; an incident's events
reach the outbox in the order they were decided. ``mark`` and ``undo`` take back what one event
did, for the consumer's retry that dead-letters one poison event of a batch and keeps the rest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sievert_deadlines.adapters import store, tasks_store
from sievert_deadlines.adapters.store import Case
from sievert_deadlines.domain import DeadlinePolicy, PlannedTimer
from sievert_deadlines.domain.tasks import TaskTimer
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event, TaskKind, Window
from sievert_shared.outbox import Emission, Emitter
from sievert_shared.tracing import current_traceparent

_MISSING: Any = object()


class Unit:
    """The reads and pending writes of one transaction on ``conn``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        #: the events applied in this unit: one seen again means its transaction rolled back
        #: and the consumer is reading its batch again (``entrypoints.consumers.Batches``)
        self.applied: set[uuid.UUID] = set()
        self._clear()

    def _clear(self) -> None:
        # what this transaction has read (locked) or changed, by incident; None: no row
        self._cases: dict[uuid.UUID, Case | None] = {}
        self._tasks: dict[uuid.UUID, tasks_store.Loaded | None] = {}
        self._modalities: dict[uuid.UUID, str | None] = {}
        self._policies: dict[str, DeadlinePolicy] = {}
        # what to write (dicts used as ordered sets)
        self._saved_cases: dict[uuid.UUID, None] = {}
        self._saved_tasks: dict[uuid.UUID, None] = {}
        self._saved_modalities: dict[uuid.UUID, None] = {}
        self._timers: dict[uuid.UUID, tuple[PlannedTimer, ...]] = {}
        self._timers_cancelled: dict[tuple[uuid.UUID, str], None] = {}
        self._task_timers: dict[uuid.UUID, tuple[TaskTimer, ...]] = {}
        self._task_timers_cancelled: dict[tuple[uuid.UUID, str], None] = {}
        self._emissions: dict[int, Emission] = {}
        # (mapping, key, previous value or _MISSING) for every assignment above, newest last
        self._undo: list[tuple[dict[Any, Any], Any, Any]] = []

    # -- taking back one event's changes -------------------------------------------------------

    def mark(self) -> int:
        return len(self._undo)

    def undo(self, mark: int) -> None:
        """Forget every read and change since ``mark`` (the savepoint they ran in rolled back)."""
        while len(self._undo) > mark:
            mapping, key, previous = self._undo.pop()
            if previous is _MISSING:
                del mapping[key]
            else:
                mapping[key] = previous

    def _put(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        self._undo.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    # -- reads: from this transaction's changes, else PostgreSQL (locking the aggregate) --------

    async def case(self, incident_id: uuid.UUID) -> Case | None:
        """The incident's aggregate, locked for this transaction (with its modality, read in the
        same round trip); None if it has no deadlines (not classified yet)."""
        if incident_id in self._cases:
            return self._cases[incident_id]
        case, modality = await store.load_with_modality(self.conn, incident_id)
        self._put(self._cases, incident_id, case)
        if incident_id not in self._modalities:
            self._put(self._modalities, incident_id, modality)
        return case

    async def modality(self, incident_id: uuid.UUID) -> str | None:
        if incident_id not in self._modalities:
            self._put(self._modalities, incident_id, await store.modality_of(self.conn, incident_id))
        return self._modalities[incident_id]

    async def policy(self, trust: str) -> DeadlinePolicy:
        if trust not in self._policies:
            self._put(self._policies, trust, await store.policy_for(self.conn, trust))
        return self._policies[trust]

    async def tasks(self, incident_id: uuid.UUID) -> tasks_store.Loaded | None:
        """The incident's tasks, locked for this transaction. Read only once its deadlines row is
        held (``case``, or a claim of its timers): the one lock order."""
        if incident_id not in self._tasks:
            self._put(self._tasks, incident_id, await tasks_store.load(self.conn, incident_id))
        return self._tasks[incident_id]

    async def preload_tasks(self, incident_ids: Iterable[uuid.UUID]) -> None:
        """Read (and lock) the tasks of many incidents in one round trip, ahead of ``tasks``: for
        a transaction that already holds their deadlines rows (a claim of due timers)."""
        wanted = sorted(set(incident_ids) - self._tasks.keys())
        if wanted:
            found = await tasks_store.load_many(self.conn, wanted)
            for incident_id in wanted:
                self._put(self._tasks, incident_id, found.get(incident_id))

    async def preload(self, incident_ids: Iterable[uuid.UUID], trusts: Iterable[str]) -> None:
        """Read what a batch's events would read one by one (each incident's case with its
        modality, then its tasks, each locked; each trust's policy) in one statement of each
        kind, ahead of ``case``, ``modality``, ``tasks`` and ``policy``. The deadlines rows are
        locked before the tasks rows, the one lock order. What the unit holds already is kept."""
        wanted = sorted(set(incident_ids) - self._cases.keys())
        if wanted:
            found = await store.load_many_with_modality(self.conn, wanted)
            for incident_id in wanted:
                case, modality = found[incident_id]
                self._put(self._cases, incident_id, case)
                if incident_id not in self._modalities:
                    self._put(self._modalities, incident_id, modality)
            await self.preload_tasks(wanted)
        policies = set(trusts) - self._policies.keys()
        if policies:
            for trust, policy in (await store.policies_for(self.conn, policies)).items():
                self._put(self._policies, trust, policy)

    # -- changes ---------------------------------------------------------------------------------

    def save_case(self, case: Case) -> None:
        incident_id = case.deadlines.incident_id
        self._put(self._cases, incident_id, case)
        self._put(self._saved_cases, incident_id, None)

    def set_modality(self, incident_id: uuid.UUID, modality: str) -> None:
        self._put(self._modalities, incident_id, modality)
        self._put(self._saved_modalities, incident_id, None)

    def cancel_timers(self, incident_id: uuid.UUID, windows: Iterable[Window | None]) -> None:
        """Delete the incident's pending timers of these windows (``None``: the case's retention
        timer): those stored before this transaction when it is written, those scheduled in it now."""
        kinds = {store.timer_kind(w) for w in windows}
        if not kinds:
            return
        planned = self._timers.get(incident_id)
        if planned:
            self._put(self._timers, incident_id, tuple(t for t in planned if t.window_kind not in kinds))
        for kind in kinds:
            self._put(self._timers_cancelled, (incident_id, kind), None)

    def schedule_timers(self, timers: Sequence[PlannedTimer]) -> None:
        for timer in timers:
            self._put(self._timers, timer.incident_id, (*self._timers.get(timer.incident_id, ()), timer))

    def save_tasks(self, loaded: tasks_store.Loaded) -> None:
        incident_id = loaded.case.incident_id
        self._put(self._tasks, incident_id, loaded)
        self._put(self._saved_tasks, incident_id, None)

    def cancel_task_timers(self, incident_id: uuid.UUID, task_kinds: Iterable[TaskKind]) -> None:
        kinds = {k.value for k in task_kinds}
        if not kinds:
            return
        planned = self._task_timers.get(incident_id)
        if planned:
            self._put(
                self._task_timers, incident_id, tuple(t for t in planned if t.task_kind.value not in kinds)
            )
        for kind in kinds:
            self._put(self._task_timers_cancelled, (incident_id, kind), None)

    def schedule_task_timers(self, timers: Sequence[TaskTimer]) -> None:
        for timer in timers:
            self._put(
                self._task_timers, timer.incident_id, (*self._task_timers.get(timer.incident_id, ()), timer)
            )

    def emit(
        self,
        events: Sequence[Event],
        *,
        stream_id: uuid.UUID,
        tenant: Tenant,
        correlation_id: str,
        cause: EventEnvelope | None = None,
        actor: str | None = None,
    ) -> None:
        """Events for the incident's stream, numbered and enqueued when the unit is written, after
        those emitted before them."""
        if not events:
            return
        emission = Emission(
            stream_id,
            tenant,
            correlation_id,
            tuple(events),
            cause.event_id if cause else None,
            actor or (cause.actor if cause else None),
            current_traceparent(),  # the span deciding them, as an outbox row written now would carry
        )
        self._put(self._emissions, len(self._emissions), emission)

    # -- writing ---------------------------------------------------------------------------------

    async def flush(self, emitter: Emitter, now: dt.datetime) -> None:
        """Write every change, one statement per kind of write, then start afresh (its reads too)."""
        conn = self.conn
        await store.set_modalities(
            conn, {i: m for i in self._saved_modalities if (m := self._modalities[i]) is not None}
        )
        await store.save_many(conn, [c for i in self._saved_cases if (c := self._cases[i]) is not None], now)
        await store.cancel_timers_of(conn, list(self._timers_cancelled))
        await store.schedule_timers(conn, [t for timers in self._timers.values() for t in timers])
        await tasks_store.save_many(
            conn, [t for i in self._saved_tasks if (t := self._tasks[i]) is not None], now
        )
        await tasks_store.cancel_timers_of(conn, list(self._task_timers_cancelled))
        await tasks_store.schedule_timers(conn, [t for timers in self._task_timers.values() for t in timers])
        await emitter.emit_many(conn, list(self._emissions.values()))
        self._clear()
