"""Reporting's consumer makes and reads the incident rows of a batch in one statement before its
handlers (``RowsReadAhead``, the consumer's ``before_batch``) and writes the rows they changed in
one statement after them (its ``after_batch``, before the deadline counts read them): a batch with
several events of one incident and of several, some refused by the guards, leaves what the bare
projection applying them one at a time leaves, in two statements whatever its size, and an event
that fails after changing its row is dead-lettered alone, its change forgotten by the rest."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

import asyncpg
import pytest

from sievert_classifier.domain import classify
from sievert_reporting.bootstrap import build
from sievert_reporting.entrypoints.case_consumers import TASK_EVENTS, TasksReadAhead
from sievert_reporting.entrypoints.consumers import INCIDENT_EVENTS, PROJECTION, RowsReadAhead, live_handlers
from sievert_reporting.settings import ReportingSettings
from sievert_shared.db import Connection, create_pool, migrate
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    REGISTRY,
    DeadlineMet,
    DeadlineScheduled,
    IncidentClassified,
    IncidentReported,
    TaskAssigned,
    TaskCompleted,
    TaskKind,
    TaskOpened,
    TaskOverdue,
    Window,
)
from sievert_shared.handlers import EventHandlers
from sievert_shared.kafka import ensure_topics
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock
from tests.support.counting import CountingConnection
from tests.support.infra import Infra
from tests.support.kafka import consume_until, produce
from tests.support.reporting import ct_facts, envelope

pytestmark = pytest.mark.integration

NOW = dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC)
KEY = uuid.uuid4().bytes  # one Kafka key: the events share a partition and arrive as one batch


def scheduled(window: Window, days: int) -> DeadlineScheduled:
    return DeadlineScheduled(
        window=window, due_at=NOW + dt.timedelta(days=days), discovered_on=NOW.date(), authority="cqc"
    )


def met(window: Window, days: int) -> DeadlineMet:
    return DeadlineMet(window=window, due_at=NOW + dt.timedelta(days=days), met_at=NOW, late=False)


def read_ahead_handlers() -> tuple[RowsReadAhead, EventHandlers]:
    """The projection with its incident rows read ahead and written after, as ``live_handlers``
    has it (less its announcements)."""
    ahead = RowsReadAhead()
    handlers = EventHandlers(after_batch=ahead.write, before_batch=ahead.read)
    for incident_event in INCIDENT_EVENTS:
        handlers.add(incident_event, ahead.on_incident_event)
    return ahead, PROJECTION.extended(handlers)


def live_handlers_at(now: dt.datetime) -> EventHandlers:
    """The live consumer's handlers, announcements and all, on a runtime that never connects."""
    settings = ReportingSettings(
        database_url="postgresql://unused", kafka=KafkaSettings(topic_prefix="unused"), environment="test"
    )
    runtime, _ = build(settings, FakeClock(now))
    return live_handlers(runtime)


def task_read_ahead_handlers() -> tuple[TasksReadAhead, EventHandlers]:
    """The projection with its tasks read ahead and written after, as ``live_handlers`` has it
    (less the incident rows' read ahead and the announcements)."""
    ahead = TasksReadAhead()

    async def write(conn: Connection, applied: Sequence[EventEnvelope]) -> None:
        await ahead.write(conn)

    handlers = EventHandlers(after_batch=write, before_batch=ahead.read)
    for task_event in TASK_EVENTS:
        handlers.add(task_event, ahead.on_task_event)
    return ahead, PROJECTION.extended(handlers)


@pytest.fixture
async def pools(make_database: Callable[[str], Any]) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    made = [await create_pool(await make_database("reporting")) for _ in range(2)]
    try:
        for pool in made:
            await migrate(pool, "sievert_reporting.migrations")
        yield made[0], made[1]
    finally:
        for pool in made:
            await pool.close()


async def incidents(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    return [
        tuple(r.values())
        for r in await pool.fetch(
            """SELECT incident_id, trust, site, modality, facts, facts_version, reported_at, notifiable,
                      codes, decision, deadlines, updated_at
               FROM incidents ORDER BY incident_id"""
        )
    ]


async def one_at_a_time(pool: asyncpg.Pool, events: list[EventEnvelope]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for e in events:
            await PROJECTION[e.event_type](conn, e, REGISTRY.decode(e))


async def test_a_batch_read_ahead_and_written_after_leaves_what_its_events_one_at_a_time_leave_in_two_statements(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    ahead_pool, plain_pool = pools
    stored, fresh, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    facts = ct_facts(NOW.date())
    before = [envelope(IncidentReported(facts=facts, channel="json"), stored, "RXX01", "intake", NOW)]
    batch = [
        envelope(scheduled(Window.NOTIFICATION, 3), stored, "RXX01", "deadlines", NOW, version=1),
        envelope(IncidentReported(facts=facts, channel="json"), fresh, "RXX01", "intake", NOW),
        envelope(scheduled(Window.NOTIFICATION, 2), other, "RYY01", "deadlines", NOW, "RYY", version=1),
        envelope(met(Window.NOTIFICATION, 3), stored, "RXX01", "deadlines", NOW, version=3),
        # older than the met it follows: the guard, on the version the batch's last event left, refuses it
        envelope(scheduled(Window.NOTIFICATION, 5), stored, "RXX01", "deadlines", NOW, version=2),
        envelope(
            IncidentClassified(decision=classify(facts), discovered_on=facts.discovered_on, facts_version=1),
            fresh,
            "RXX01",
            "classifier",
            NOW,
        ),
        envelope(scheduled(Window.INVESTIGATION_REPORT, 84), stored, "RXX01", "deadlines", NOW, version=4),
    ]
    for pool in pools:
        await one_at_a_time(pool, before)

    _, handlers = read_ahead_handlers()
    assert handlers.before_batch is not None and handlers.after_batch is not None
    async with ahead_pool.acquire() as conn, conn.transaction():
        counting = CountingConnection(conn)
        as_conn = cast(Connection, counting)
        await handlers.before_batch(as_conn, batch)
        assert counting.sent == 1  # every incident's row made or read, in one statement
        for e in batch:
            await handlers[e.event_type](as_conn, e, REGISTRY.decode(e))
        assert counting.sent == 1  # each change kept for the batch's end, none written yet
        await handlers.after_batch(as_conn, batch)
        assert counting.sent == 2  # the three incidents' rows merged in one statement
    await one_at_a_time(plain_pool, batch)

    projected = await incidents(ahead_pool)
    assert len(projected) == 3
    assert projected == await incidents(plain_pool)


async def test_a_live_batch_writes_its_rows_in_one_statement_whatever_its_size_before_counting_them(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    """The live handlers, announcements and all: a batch of two deadline events and one of
    eight, of the same two trusts, send nothing from their handlers and as many statements after
    them (the merge, the counts, an announcement per trust), and the counts announced are those
    of the rows as the batch left them, so the rows were written before they were counted."""
    live_pool, plain_pool = pools
    handlers = live_handlers_at(NOW)
    assert handlers.before_batch is not None and handlers.after_batch is not None

    def batch_of(size: int) -> list[EventEnvelope]:
        return [
            envelope(
                scheduled(Window.NOTIFICATION, 2 + n), uuid.uuid4(), f"{trust}01", "deadlines", NOW, trust
            )
            for n in range(size // 2)
            for trust in ("RXX", "RYY")
        ]

    sent_after: list[int] = []
    everything: list[EventEnvelope] = []
    for batch in (batch_of(2), batch_of(8)):
        everything += batch
        async with live_pool.acquire() as conn, conn.transaction():
            counting = CountingConnection(conn)
            as_conn = cast(Connection, counting)
            await handlers.before_batch(as_conn, batch)
            for e in batch:
                await handlers[e.event_type](as_conn, e, REGISTRY.decode(e))
            assert counting.sent == 1  # the read ahead only: each change kept for the batch's end
            await handlers.after_batch(as_conn, batch)
            sent_after.append(counting.sent - 1)
    assert sent_after[0] == sent_after[1]
    await one_at_a_time(plain_pool, everything)
    assert await incidents(live_pool) == await incidents(plain_pool)

    announced = [
        r["envelope"]["payload"]
        for r in await live_pool.fetch("SELECT envelope FROM outbox ORDER BY position")
        if r["envelope"]["event_type"] == "DeadlineCountsChanged"
    ]
    # per trust: one open window, then five, all due within a week
    assert [(c["trust"], c["open"], c["due_within_7_days"]) for c in announced] == [
        ("RXX", 1, 1),
        ("RYY", 1, 1),
        ("RXX", 5, 5),
        ("RYY", 5, 5),
    ]


async def test_a_batch_read_ahead_forgets_the_row_change_of_an_event_dead_lettered_alone(
    infra: Infra, topic_prefix: str, pools: tuple[asyncpg.Pool, asyncpg.Pool]
) -> None:
    """An incident's deadline event changes its row (read ahead), is stored, then fails: the batch
    is redone one savepoint per event, and an older event of the same window after it must be
    applied, as it is when the failed event never happened; a row still holding the failed
    event's version would refuse it."""
    ahead_pool, plain_pool = pools
    a, b = uuid.uuid4(), uuid.uuid4()
    poisoned = envelope(scheduled(Window.NOTIFICATION, 9), a, "RXX01", "deadlines", NOW, version=5)
    batch = [
        envelope(scheduled(Window.INVESTIGATION_REPORT, 84), a, "RXX01", "deadlines", NOW, version=1),
        envelope(scheduled(Window.NOTIFICATION, 2), b, "RXX01", "deadlines", NOW, version=1),
        poisoned,
        envelope(scheduled(Window.NOTIFICATION, 3), a, "RXX01", "deadlines", NOW, version=4),
    ]
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    await produce(kafka.bootstrap_servers, kafka.topics.deadlines, [(KEY, e.to_json_bytes()) for e in batch])

    ahead, handlers = read_ahead_handlers()
    poisoning = EventHandlers(before_batch=ahead.read)

    @poisoning.on(DeadlineScheduled)
    async def stores_then_fails(conn: Connection, envelope: EventEnvelope, event: DeadlineScheduled) -> None:
        await ahead.on_incident_event(conn, envelope, event)
        if envelope.event_id == poisoned.event_id:
            raise ValueError("poison")

    consumer = await consume_until(
        ahead_pool,
        kafka,
        name="reporting.poisoned",
        topics=[kafka.topics.deadlines],
        handlers=handlers.extended(poisoning),
        handled=3,
        dead=1,
    )
    assert consumer.stats.processed == 3 and consumer.stats.dead_lettered == 1
    await one_at_a_time(plain_pool, [e for e in batch if e is not poisoned])

    projected = await incidents(ahead_pool)
    by_id = {r[0]: r for r in projected}
    assert by_id[a][10]["notification"]["stream_version"] == 4
    assert projected == await incidents(plain_pool)


async def tasks_of(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in await pool.fetch("SELECT * FROM case_tasks ORDER BY task_id")]


async def test_a_batch_reads_its_tasks_ahead_and_writes_them_after_as_its_events_one_at_a_time_would(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    """Task events of one incident and of another, about a task stored before the batch, tasks it
    opens, and an event older than one already applied: the live handlers read every task in one
    statement before them, send nothing from them, write the changed tasks in one statement
    after them, and leave the rows the bare projection leaves applying them one at a time."""
    live_pool, plain_pool = pools
    handlers = live_handlers_at(NOW)
    assert handlers.before_batch is not None and handlers.after_batch is not None
    incident, other = uuid.uuid4(), uuid.uuid4()
    stored, opened, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    later = NOW + dt.timedelta(hours=2)

    def on(
        incident_id: uuid.UUID, event: Any, version: int, at: dt.datetime = NOW, trust: str = "RXX"
    ) -> EventEnvelope:
        return envelope(event, incident_id, f"{trust}01", "deadlines", at, trust, version=version)

    candour = TaskKind.DUTY_OF_CANDOUR
    before = [on(incident, TaskOpened(task_id=stored, kind=candour, reason="Line 85."), 1)]
    batch = [
        on(incident, TaskAssigned(task_id=stored, owner_role="Ward manager", assigned_by_role="RPL"), 2),
        on(incident, TaskOpened(task_id=opened, kind=TaskKind.REGULATION_8_1_INFORM, reason="Line 78."), 3),
        on(other, TaskOpened(task_id=elsewhere, kind=candour, reason="Line 85."), 1, trust="RYY"),
        on(incident, TaskOverdue(task_id=opened, kind=TaskKind.REGULATION_8_1_INFORM, due_at=NOW), 4, later),
        # older than the assignment already applied to the stored task: the guard refuses it
        on(incident, TaskOpened(task_id=stored, kind=candour, reason="Line 85, again."), 2),
        on(
            incident,
            TaskCompleted(
                task_id=stored,
                kind=candour,
                completed_on=NOW.date(),
                completed_by_role="Ward manager",
                outcome="Told the patient and apologised in writing.",
            ),
            5,
        ),
    ]
    for pool in pools:
        await one_at_a_time(pool, before)

    async with live_pool.acquire() as conn, conn.transaction():
        counting = CountingConnection(conn)
        as_conn = cast(Connection, counting)
        await handlers.before_batch(as_conn, batch)
        assert counting.sent == 1  # the three tasks read in one statement (no incident rows to read)
        for e in batch:
            await handlers[e.event_type](as_conn, e, REGISTRY.decode(e))
        assert counting.sent == 1  # each change kept for the batch's end, none written yet
        await handlers.after_batch(as_conn, batch)
        assert counting.sent == 2  # the three tasks written in one statement
    await one_at_a_time(plain_pool, batch)

    projected = await tasks_of(live_pool)
    assert len(projected) == 3
    assert projected == await tasks_of(plain_pool)


async def test_a_batch_read_ahead_forgets_the_task_change_of_an_event_dead_lettered_alone(
    infra: Infra, topic_prefix: str, pools: tuple[asyncpg.Pool, asyncpg.Pool]
) -> None:
    """A task event changes its task (read ahead), then fails: the batch is redone one savepoint
    per event, and an older event of the task after it must be applied, as it is when the failed
    event never happened; a task still holding the failed event's version would refuse it."""
    ahead_pool, plain_pool = pools
    incident, task = uuid.uuid4(), uuid.uuid4()
    kind = TaskKind.REGULATION_8_1_INFORM

    def on(event: Any, version: int) -> EventEnvelope:
        return envelope(event, incident, "RXX01", "deadlines", NOW, version=version)

    poisoned = on(TaskAssigned(task_id=task, owner_role="Physicist", assigned_by_role="RPL"), 5)
    batch = [
        on(TaskOpened(task_id=task, kind=kind, reason="Line 78."), 1),
        poisoned,
        on(TaskOverdue(task_id=task, kind=kind, due_at=NOW), 4),
    ]
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    await produce(kafka.bootstrap_servers, kafka.topics.cases, [(KEY, e.to_json_bytes()) for e in batch])

    ahead, handlers = task_read_ahead_handlers()
    poisoning = EventHandlers()

    @poisoning.on(TaskAssigned)
    async def changes_then_fails(conn: Connection, envelope: EventEnvelope, event: TaskAssigned) -> None:
        await ahead.on_task_event(conn, envelope, event)
        if envelope.event_id == poisoned.event_id:
            raise ValueError("poison")

    consumer = await consume_until(
        ahead_pool,
        kafka,
        name="reporting.poisoned_tasks",
        topics=[kafka.topics.cases],
        handlers=handlers.extended(poisoning),
        handled=2,
        dead=1,
    )
    assert consumer.stats.processed == 2 and consumer.stats.dead_lettered == 1
    await one_at_a_time(plain_pool, [e for e in batch if e is not poisoned])

    projected = await tasks_of(ahead_pool)
    assert [(r[0], r[5], r[8], r[11]) for r in projected] == [
        (task, "open", True, 4)
    ]  # status, overdue, version
    assert projected == await tasks_of(plain_pool)
