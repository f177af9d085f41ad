"""Due timers fired in concurrent batches, against the real PostgreSQL.

Several batches run at once, each claiming its incidents as a replica does. Whatever the batches'
interleaving, every due timer of every incident fires once, an incident's events reach the outbox
in the order the pure domain fires its timers (with consecutive stream versions), the timers that
follow are stored, and a batch that fails leaves its incidents as they were: each incident is
either fired whole or untouched, and a later run fires the rest once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from sievert_deadlines.adapters import store
from sievert_deadlines.domain import DEFAULT_POLICY, PlannedTimer, fire, on_classified
from sievert_deadlines.service_layer.deadlines import DeadlinesService, WindowEventsObserver
from sievert_deadlines.service_layer.unit import Unit
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

NOW = dt.datetime(2025, 6, 20, 9, 0, tzinfo=dt.UTC)
TENANTS = [Tenant(trust="RXX", site="RXX01"), Tenant(trust="RYY", site="RYY01")]

# (event type, payload): one event as the outbox holds it
Fired = tuple[str, dict[str, Any]]
# (incident, window kind, kind, fire_at, due_at, days_before, days_overdue): one pending timer
TimerRow = tuple[uuid.UUID, str, str, dt.datetime, dt.datetime, int | None, int | None]


def _row(t: PlannedTimer) -> TimerRow:
    return (t.incident_id, t.window_kind, t.kind.value, t.fire_at, t.due_at, t.days_before, t.days_overdue)


async def seed(conn: Connection, incidents: int) -> list[uuid.UUID]:
    """Notifiable incidents discovered 16 to 45 days before NOW and planned the day after: at
    NOW each has its notification window's early reminder, reminders and due timer overdue (so
    several timers per incident), and some have report-window reminders due too."""
    ids = []
    async with conn.transaction():
        for i in range(incidents):
            incident_id = uuid.uuid4()
            discovered_on = NOW.date() - dt.timedelta(days=16 + i % 30)
            planned_at = dt.datetime.combine(discovered_on + dt.timedelta(days=1), dt.time(9), dt.UTC)
            decision = on_classified(
                None,
                incident_id=incident_id,
                notifiable=True,
                authority="cqc",
                discovered_on=discovered_on,
                policy=DEFAULT_POLICY,
                now=planned_at,
            )
            assert decision.deadlines is not None
            await store.save(conn, decision.deadlines, TENANTS[i % 2], f"c-{i}", planned_at)
            await store.schedule_timers(conn, decision.schedule_timers)
            ids.append(incident_id)
    return ids


async def oracle(
    conn: Connection, ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[Fired]], set[TimerRow]]:
    """What firing every due timer at NOW must leave, from the pure domain: each incident's
    events in order, and every timer pending afterwards."""
    events: dict[uuid.UUID, list[Fired]] = {}
    pending: set[TimerRow] = set()
    due = await store.due_timers(conn, ids, NOW)
    assert len(due) > 2 * len(ids), "several due timers per incident"
    by_incident: dict[uuid.UUID, list[PlannedTimer]] = defaultdict(list)
    for _, timer in due:
        by_incident[timer.incident_id].append(timer)
    for incident_id in ids:
        deadlines = await store.read(conn, incident_id)
        assert deadlines is not None
        fired: list[Fired] = []
        for timer in by_incident[incident_id]:
            firing = fire(timer, deadlines, DEFAULT_POLICY, NOW)
            fired.extend((e.event_type, e.model_dump(mode="json")) for e in firing.events)
            if firing.next_timer is not None:
                pending.add(_row(firing.next_timer))
        assert fired, "every incident's missed notification window speaks"
        events[incident_id] = fired
    rows = await conn.fetch(
        """SELECT incident_id, window_kind, kind, fire_at, due_at, days_before, days_overdue
           FROM timers WHERE fire_at > $1""",
        NOW,
    )
    pending |= {tuple(r.values()) for r in rows}
    return events, pending


async def outbox(conn: Connection) -> dict[uuid.UUID, list[tuple[int, str, dict[str, Any]]]]:
    """Each stream's outbox rows in the order the relay publishes them (position)."""
    rows = await conn.fetch("SELECT envelope FROM outbox ORDER BY position")
    streams: dict[uuid.UUID, list[tuple[int, str, dict[str, Any]]]] = defaultdict(list)
    for r in rows:
        envelope = r["envelope"]
        streams[uuid.UUID(envelope["stream_id"])].append(
            (envelope["stream_version"], envelope["event_type"], envelope["payload"])
        )
    return streams


async def timers_left(conn: Connection) -> set[TimerRow]:
    rows = await conn.fetch(
        "SELECT incident_id, window_kind, kind, fire_at, due_at, days_before, days_overdue FROM timers"
    )
    return {tuple(r.values()) for r in rows}


@asynccontextmanager
async def deadlines(
    infra: Infra, topic_prefix: str, database_url: str, observers: Sequence[WindowEventsObserver] = ()
) -> AsyncIterator[tuple[DeadlinesService, Connection]]:
    """The service with no relay, and a connection of its pool for the test's own reads."""
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    runtime = ServiceRuntime(
        name="deadlines",
        settings=DeadlinesSettings(database_url=database_url, kafka=kafka, environment="test"),
        migrations_package="sievert_deadlines.migrations",
        clock=FakeClock(NOW),
        relay=False,
    )
    async with runtime.lifespan(), runtime.pool.acquire() as conn:
        yield DeadlinesService(runtime, observers=observers), conn


def assert_fired_as_the_domain_fires(
    streams: dict[uuid.UUID, list[tuple[int, str, dict[str, Any]]]], expected: dict[uuid.UUID, list[Fired]]
) -> None:
    assert set(streams) == set(expected)
    for incident_id, rows in streams.items():
        # once each, in the domain's order, numbered on from 1 in the order the relay sends them
        assert [(t, p) for _, t, p in rows] == expected[incident_id], incident_id
        assert [v for v, _, _ in rows] == list(range(1, len(rows) + 1)), incident_id


async def test_concurrent_batches_fire_each_due_timer_once_in_order_per_incident(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    async with deadlines(infra, topic_prefix, await make_database("fire_batches")) as (service, conn):
        ids = await seed(conn, 40)
        expected, pending = await oracle(conn, ids)
        due = len(await store.due_timers(conn, ids, NOW))

        # batches of 3 incidents, 3 at once: many interleaved transactions over one backlog
        fired = await service.fire_due(batch_size=3, concurrency=3)

        assert fired == due
        assert_fired_as_the_domain_fires(await outbox(conn), expected)
        assert await timers_left(conn) == pending
        assert await service.fire_due(batch_size=3, concurrency=3) == 0  # nothing fires twice


async def test_a_failing_batch_leaves_its_incidents_untouched_and_a_later_run_fires_them_once(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    database_url = await make_database("fire_batches_crash")
    poisoned: set[uuid.UUID] = set()

    async def crash(
        unit: Unit,
        incident_id: uuid.UUID,
        tenant: Tenant,
        correlation_id: str,
        events: Sequence[Event],
        cause: EventEnvelope | None,
    ) -> None:
        # after the batch's timers are deleted, its next timers stored and its events enqueued
        if incident_id in poisoned:
            raise RuntimeError("crash mid-batch")

    async with deadlines(infra, topic_prefix, database_url, observers=[crash]) as (service, conn):
        ids = await seed(conn, 30)
        expected, pending = await oracle(conn, ids)
        before = await timers_left(conn)
        due = await store.due_timers(conn, ids, NOW)
        poisoned.add(ids[len(ids) // 2])  # in the middle of the claim order: batches before it commit

        with pytest.raises(RuntimeError, match="crash mid-batch"):
            await service.fire_due(batch_size=4, concurrency=2)

        streams = await outbox(conn)
        left = await timers_left(conn)
        assert ids[len(ids) // 2] not in streams
        for incident_id in ids:
            theirs = {t for t in left if t[0] == incident_id}
            if incident_id in streams:  # fired whole: its events, its next timers
                assert [(t, p) for _, t, p in streams[incident_id]] == expected[incident_id]
                assert theirs == {t for t in pending if t[0] == incident_id}
            else:  # untouched: every timer as seeded, no event
                assert theirs == {t for t in before if t[0] == incident_id}
        assert len(streams) < len(ids), "the failing batch's incidents were left"

        poisoned.clear()  # the process restarted without the fault
        fired_after = await service.fire_due(batch_size=4, concurrency=2)

        assert fired_after == len([t for _, t in due if t.incident_id not in streams])
        assert_fired_as_the_domain_fires(await outbox(conn), expected)
        assert await timers_left(conn) == pending
