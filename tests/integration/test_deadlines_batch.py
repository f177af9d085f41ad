"""The deadlines consumer writes a fetched batch's changes once, one statement per kind of write:
what a batch leaves (aggregates, windows, timers, tasks, the outbox and its stream versions) is
what its events applied one at a time leave, an incident's events keep their order, each
incident keeps its trust, an event twice in a batch applies once, a batch delivered again
changes nothing, and an event that fails or a batch that rolls back leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import pytest

from sievert_classifier.domain import classify
from sievert_deadlines.bootstrap import build
from sievert_deadlines.entrypoints.consumers import Batches, consumer_handlers
from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.service_layer.tasks import TasksService
from sievert_deadlines.service_layer.unit import Unit
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import REGISTRY, Event, IncidentClassified, IncidentReclassified
from sievert_shared.facts import IncidentFacts
from sievert_shared.handlers import EventHandlers
from sievert_shared.kafka import ensure_topics
from sievert_shared.outbox import build_envelope
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock
from tests.support.counting import CountingConnection
from tests.support.infra import Infra
from tests.support.kafka import consume_until, eventually, produce

pytestmark = pytest.mark.integration

NOW = dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC)
DISCOVERED = dt.date(2025, 6, 2)
RXX = Tenant(trust="RXX", site="RXX01")
RYY = Tenant(trust="RYY", site="RYY01")
#: one Kafka key for every event, so they share a partition and the consumer fetches them together
KEY = uuid.uuid4().bytes


def facts(total_msv: float, *, significant: bool = True) -> IncidentFacts:
    return IncidentFacts.model_validate(
        {
            "nation": "england",
            "discovered_on": DISCOVERED.isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 60,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": total_msv,
            "clinically_significant": significant,
        }
    )


def from_classifier(event: Event, incident: uuid.UUID, tenant: Tenant, version: int) -> EventEnvelope:
    return build_envelope(
        event,
        stream_id=incident,
        stream_version=version,
        tenant=tenant,
        correlation_id=f"corr-{incident}",
        producer="classifier",
        now=NOW,
    )


def classified(incident: uuid.UUID, tenant: Tenant, total_msv: float) -> EventEnvelope:
    event = IncidentClassified(decision=classify(facts(total_msv)), discovered_on=DISCOVERED, facts_version=1)
    return from_classifier(event, incident, tenant, 1)


def downgraded(incident: uuid.UUID, tenant: Tenant, total_msv: float) -> EventEnvelope:
    """Reclassified not notifiable after amended facts."""
    event = IncidentReclassified(
        decision=classify(facts(total_msv, significant=False)),
        discovered_on=DISCOVERED,
        facts_version=2,
        previous_notifiable=True,
        previous_codes=[],
        previous_discovered_on=DISCOVERED,
        changes=["notifiable: True -> False"],
    )
    return from_classifier(event, incident, tenant, 2)


def a_batch() -> tuple[list[EventEnvelope], dict[str, uuid.UUID]]:
    """Incident a classified notifiable then reclassified not notifiable (two events of one
    incident in order), b of another trust between them, and c's classification twice."""
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    c_classified = classified(c, RXX, 12.0)
    batch = [
        classified(a, RXX, 12.0),
        classified(b, RYY, 12.0),
        c_classified,
        downgraded(a, RXX, 1.5),
        c_classified,
    ]
    return batch, {"a": a, "b": b, "c": c}


async def snapshot(conn: Connection) -> dict[str, Any]:
    """Everything the consumer's effects leave in the database, in a comparable form: rows that a
    fresh id or the wall clock tell apart (outbox event ids, timer ids, written-at) are left out."""

    async def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in await conn.fetch(sql)]

    outbox = [
        (
            e["stream_id"],
            e["stream_version"],
            e["event_type"],
            e["payload"],
            e["tenant"],
            e["correlation_id"],
            e["causation_id"],
            e["actor"],
            r["topic"],
        )
        for r in await conn.fetch("SELECT topic, envelope FROM outbox ORDER BY position")
        for e in [r["envelope"]]
    ]
    return {
        "deadlines": await rows(
            "SELECT incident_id, trust, site, correlation_id, state FROM incident_deadlines ORDER BY 1"
        ),
        "windows": await rows(
            """SELECT incident_id, window_kind, trust, site, status, discovered_on, due_at, authority,
                      met_at, extensions, provisional, needs_facts, clock_from, binding_due_at, days_late,
                      cancelled_reason, extension_detail, case_status
               FROM windows ORDER BY 1, 2"""
        ),
        "timers": sorted(
            await rows(
                """SELECT incident_id, window_kind, kind, fire_at, due_at, days_before, days_overdue
                   FROM timers"""
            ),
            key=str,
        ),
        "tasks_state": await rows(
            "SELECT incident_id, trust, site, correlation_id, state FROM incident_tasks ORDER BY 1"
        ),
        "tasks": await rows(
            "SELECT task_id, incident_id, kind, trust, site, status, due_at, owner_role, task FROM tasks ORDER BY 1"
        ),
        "task_timers": sorted(
            await rows("SELECT incident_id, task_kind, kind, fire_at, due_at, days_before FROM task_timers"),
            key=str,
        ),
        "modalities": await rows("SELECT incident_id, modality FROM incident_modalities ORDER BY 1"),
        "versions": await rows("SELECT stream_id, version FROM emitted_stream_versions ORDER BY 1"),
        # per incident, its events in outbox order: the order the relay publishes them in
        "outbox": sorted(outbox, key=lambda e: str(e[0])),
        "outbox_order": [(e[0], e[1]) for e in outbox],
    }


@asynccontextmanager
async def batched_service(
    infra: Infra, topic_prefix: str, database_url: str
) -> AsyncIterator[tuple[KafkaSettings, ServiceRuntime]]:
    """The deadlines service as it runs (``bootstrap.build``: the batched consumer)."""
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    settings = DeadlinesSettings(database_url=database_url, kafka=kafka, environment="test")
    runtime, app, _ = build(settings, FakeClock(NOW))
    async with runtime.lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app)):
        yield kafka, runtime


async def processed(conn: Connection, at_least: int) -> None:
    async def enough() -> None:
        assert await conn.fetchval("SELECT count(*) FROM processed_events") >= at_least

    await eventually(enough)


@asynccontextmanager
async def one_at_a_time(
    database_url: str, kafka: KafkaSettings | None = None
) -> AsyncIterator[tuple[ServiceRuntime, Any]]:
    """The same service's handlers, each event written as its handler returns (no batching)."""
    settings = (
        DeadlinesSettings(database_url=database_url, environment="test")
        if kafka is None
        else DeadlinesSettings(database_url=database_url, kafka=kafka, environment="test")
    )
    runtime = ServiceRuntime(
        name="deadlines",
        settings=settings,
        migrations_package="sievert_deadlines.migrations",
        clock=FakeClock(NOW),
        relay=False,
    )
    tasks = TasksService(runtime)
    handlers = consumer_handlers(DeadlinesService(runtime, observers=[tasks.on_window_events]), tasks)
    async with runtime.lifespan():
        yield runtime, handlers


async def test_a_batch_leaves_what_its_events_applied_one_at_a_time_leave(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    batch, _ = a_batch()
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    # on the topic before the consumer starts, so its first fetch takes the whole batch
    await produce(
        kafka.bootstrap_servers, kafka.topics.classifications, [(KEY, e.to_json_bytes()) for e in batch]
    )
    batched_url = await make_database("deadlines")
    async with (
        batched_service(infra, topic_prefix, batched_url) as (_, runtime),
        runtime.pool.acquire() as conn,
    ):
        await processed(conn, 4)
        batched = await snapshot(conn)

    async with (
        one_at_a_time(await make_database("deadlines"), kafka) as (runtime, handlers),
        runtime.pool.acquire() as conn,
    ):
        async with conn.transaction():
            seen: set[uuid.UUID] = set()
            for envelope in batch:  # the consumer applies an event id once
                if envelope.event_id not in seen:
                    seen.add(envelope.event_id)
                    await handlers[envelope.event_type](conn, envelope, REGISTRY.decode(envelope))
        expected = await snapshot(conn)

    assert batched["outbox"] and batched["windows"] and batched["timers"] and batched["tasks"]
    assert batched == expected


async def test_a_batch_keeps_each_incidents_order_and_trust_and_applies_a_duplicate_once(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    batch, ids = a_batch()
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    await produce(
        kafka.bootstrap_servers, kafka.topics.classifications, [(KEY, e.to_json_bytes()) for e in batch]
    )
    async with (
        batched_service(infra, topic_prefix, await make_database("deadlines")) as (_, runtime),
        runtime.pool.acquire() as conn,
    ):
        await processed(conn, 4)
        # every event of the batch took effect in one transaction: one fetch, one batch
        assert await conn.fetchval("SELECT count(DISTINCT processed_at) FROM processed_events") == 1
        state = await snapshot(conn)

        # the same batch again, then one more event of a new incident to know it was read
        marker = classified(uuid.uuid4(), RYY, 12.0)
        await produce(
            kafka.bootstrap_servers,
            kafka.topics.classifications,
            [(KEY, e.to_json_bytes()) for e in [*batch, marker]],
        )
        await processed(conn, 5)
        again = await snapshot(conn)

    by_incident: dict[str, list[tuple[Any, ...]]] = {}
    for event in state["outbox"]:
        by_incident.setdefault(event[0], []).append(event)
    a, b, c = (by_incident[str(ids[k])] for k in "abc")
    # each incident's events numbered from 1 in outbox order; a's: those of its classification,
    # then those of its reclassification
    for events in (a, b, c):
        assert [e[1] for e in events] == list(range(1, len(events) + 1))
    a_positions = [v for stream, v in state["outbox_order"] if stream == str(ids["a"])]
    assert a_positions == sorted(a_positions)
    causes = [e[6] for e in a]
    first, second = batch[0].event_id, batch[3].event_id
    assert causes == sorted(causes, key=lambda cause: [str(first), str(second)].index(cause))
    assert {str(first), str(second)} <= set(causes)
    # the reclassification (undecided) cancelled the report window the classification opened,
    # with its timers scheduled earlier in the same batch, and planned the notification's again
    a_windows = {w[1]: w for w in state["windows"] if w[0] == ids["a"]}
    assert a_windows["investigation_report"][4] == "cancelled"
    assert not [t for t in state["timers"] if t[0] == ids["a"] and t[1] == "investigation_report"]
    assert [t for t in state["timers"] if t[0] == ids["b"] and t[1] == "investigation_report"]
    a_notification = [t for t in state["timers"] if t[0] == ids["a"] and t[1] == "notification"]
    assert a_notification and len(set(a_notification)) == len(a_notification)
    # each incident keeps its own trust, in its rows and its envelopes
    assert {w[2] for w in state["windows"] if w[0] == ids["b"]} == {"RYY"}
    assert {w[2] for w in state["windows"] if w[0] in (ids["a"], ids["c"])} == {"RXX"}
    assert {e[4]["trust"] for e in b} == {"RYY"} and {e[4]["trust"] for e in a + c} == {"RXX"}
    assert {t[3] for t in state["tasks"] if t[1] == ids["b"]} == {"RYY"}
    # c's classification twice in the batch took effect once: the same as b's, one incident's worth
    assert [e[2] for e in c] == [e[2] for e in b]
    assert len([w for w in state["windows"] if w[0] == ids["c"]]) == len(
        [w for w in state["windows"] if w[0] == ids["b"]]
    )
    # the batch delivered again changed nothing; only the new incident was added
    for key in ("deadlines", "windows", "timers", "tasks", "task_timers", "versions", "outbox"):
        assert [r for r in again[key] if str(marker.stream_id) not in (str(r[0]), str(r[1]))] == state[key], (
            key
        )


async def test_a_failed_event_of_a_batch_leaves_nothing_and_a_rolled_back_batch_is_written_once(
    make_database: Callable[[str], Any],
) -> None:
    """The consumer's two recoveries, through the batch's unit as the consumer drives it: an
    event whose handler fails inside its savepoint has its changes taken back while the rest of
    the batch is written; a batch whose transaction rolled back, read again, is written once."""
    b, c, d = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first, failing, later = classified(b, RYY, 12.0), classified(c, RXX, 12.0), classified(d, RXX, 12.0)
    async with one_at_a_time(await make_database("deadlines")) as (runtime, _):
        tasks = TasksService(runtime)
        service = DeadlinesService(runtime, observers=[tasks.on_window_events])
        batches = Batches(service.write)

        async def apply(unit: Unit, envelope: EventEnvelope, event: Any) -> None:
            await service.apply_classification(unit, envelope, event)
            await tasks.apply_classification(unit, envelope, event)

        async def poison(unit: Unit, envelope: EventEnvelope, event: Any) -> None:
            await apply(unit, envelope, event)  # changes the unit, then fails
            raise ValueError("poison")

        async def stored(conn: Connection) -> int:
            return int(await conn.fetchval("SELECT count(*) FROM incident_deadlines"))

        async with runtime.pool.acquire() as conn:
            # a batch whose second event fails in its savepoint (the consumer's isolating pass)
            async with conn.transaction():
                await batches.apply(conn, apply, first, REGISTRY.decode(first))
                with pytest.raises(ValueError, match="poison"):
                    async with conn.transaction():
                        await batches.apply(conn, poison, failing, REGISTRY.decode(failing))
                assert await stored(conn) == 0  # nothing written before the batch's end
                await batches.write(conn, [first])
            after_failure = await snapshot(conn)
            # a batch rolled back before its end (as when a later event failed), then read again
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await batches.apply(conn, apply, later, REGISTRY.decode(later))
                    raise RuntimeError("the batch's transaction rolls back")
            async with conn.transaction():
                await batches.apply(conn, apply, later, REGISTRY.decode(later))
                # read again, the batch is written event by event, so a write PostgreSQL refuses
                # fails with its own event
                assert await stored(conn) == 2
                await batches.write(conn, [later])
            after_retry = await snapshot(conn)

    assert {r[0] for r in after_failure["deadlines"]} == {b}
    assert {r[0] for r in after_failure["tasks_state"]} == {b}
    assert {e[0] for e in after_failure["outbox"]} == {str(b)}
    assert [v for _, v in after_failure["outbox_order"]] == list(range(1, len(after_failure["outbox"]) + 1))
    assert dict(after_failure["versions"]) == {b: len(after_failure["outbox"])}
    # d written once: the same as b's, one incident's worth
    assert {r[0] for r in after_retry["deadlines"]} == {b, d}
    d_events = [e for e in after_retry["outbox"] if e[0] == str(d)]
    assert [e[1] for e in d_events] == list(range(1, len(after_failure["outbox"]) + 1))
    assert dict(after_retry["versions"]) == {b: len(after_failure["outbox"]), d: len(after_failure["outbox"])}
    assert len(after_retry["windows"]) == 2 * len(after_failure["windows"])
    assert len(after_retry["timers"]) == 2 * len(after_failure["timers"])


def reclassified_not_notifiable(incident: uuid.UUID, tenant: Tenant, version: int) -> EventEnvelope:
    """As ``downgraded``, at any stream version (a fresh event id each time)."""
    event = IncidentReclassified(
        decision=classify(facts(1.5, significant=False)),
        discovered_on=DISCOVERED,
        facts_version=version,
        previous_notifiable=True,
        previous_codes=[],
        previous_discovered_on=DISCOVERED,
        changes=["notifiable: True -> False"],
    )
    return from_classifier(event, incident, tenant, version)


async def test_a_batch_reads_its_incidents_state_ahead_and_its_handlers_read_nothing(
    make_database: Callable[[str], Any],
) -> None:
    """The batch's ``before_batch`` reads every incident's case, tasks and modality and every
    trust's policy, one statement of each kind whatever the number of incidents; the handlers then
    send PostgreSQL nothing (their reads come from the unit, their writes at the batch's end), and
    the batch leaves what its events applied one at a time leave."""
    async with one_at_a_time(await make_database("deadlines")) as (runtime, _):
        tasks = TasksService(runtime)
        handlers = consumer_handlers(
            DeadlinesService(runtime, observers=[tasks.on_window_events]), tasks, batched=True
        )
        assert handlers.before_batch is not None and handlers.after_batch is not None
        statements: dict[int, tuple[int, int]] = {}
        for n in (2, 6):
            incidents = [uuid.uuid4() for _ in range(n)]
            # each classified in an earlier batch, so the batch below reads stored state
            first = [classified(i, RXX if k % 2 else RYY, 12.0) for k, i in enumerate(incidents)]
            batch = [
                *[reclassified_not_notifiable(i, e.tenant, 2) for i, e in zip(incidents, first, strict=True)],
                *[reclassified_not_notifiable(i, e.tenant, 3) for i, e in zip(incidents, first, strict=True)],
            ]
            async with runtime.pool.acquire() as conn:
                for events in (first, batch):
                    counting = CountingConnection(conn)
                    as_conn = cast(Connection, counting)
                    async with conn.transaction():
                        await handlers.before_batch(as_conn, events)
                        ahead = counting.sent
                        for e in events:
                            await handlers[e.event_type](as_conn, e, REGISTRY.decode(e))
                        in_handlers = counting.sent - ahead
                        await handlers.after_batch(as_conn, events)
                statements[n] = (ahead, in_handlers)
        assert statements[2] == statements[6]
        ahead, in_handlers = statements[6]
        assert in_handlers == 0
        assert ahead == 3  # cases with modalities, tasks, policies


async def test_a_batch_read_ahead_with_a_poisoned_event_dead_letters_it_alone_and_the_rest_is_as_one_at_a_time(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    """The consumer reads the batch's state ahead, an event changes its incident's state in the
    unit and then fails: the batch is redone one savepoint per event, and what it leaves is what
    its other events, one at a time, leave. Incident a's later reclassification must see a's
    state as its classification left it, not as the rolled back event changed it."""
    a, c = uuid.uuid4(), uuid.uuid4()
    poisoned = reclassified_not_notifiable(a, RXX, 2)
    batch = [
        classified(a, RXX, 12.0),
        classified(c, RYY, 12.0),
        poisoned,
        reclassified_not_notifiable(a, RXX, 3),
    ]
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    await produce(
        kafka.bootstrap_servers, kafka.topics.classifications, [(KEY, e.to_json_bytes()) for e in batch]
    )
    async with one_at_a_time(await make_database("deadlines"), kafka) as (runtime, _):
        tasks = TasksService(runtime)
        handlers = consumer_handlers(
            DeadlinesService(runtime, observers=[tasks.on_window_events]), tasks, batched=True
        )
        reclassify = handlers[IncidentReclassified.event_type]
        poisoning = EventHandlers()

        @poisoning.on(IncidentReclassified)
        async def changes_then_fails(
            conn: Connection, envelope: EventEnvelope, event: IncidentReclassified
        ) -> None:
            await reclassify(conn, envelope, event)
            if envelope.event_id == poisoned.event_id:
                raise ValueError("poison")

        consumer = await consume_until(
            runtime.pool,
            kafka,
            name="deadlines.poisoned",
            topics=[kafka.topics.classifications],
            handlers=handlers.extended(poisoning),
            handled=3,
            dead=1,
        )
        assert consumer.stats.processed == 3 and consumer.stats.dead_lettered == 1
        async with runtime.pool.acquire() as conn:
            batched = await snapshot(conn)

    async with (
        one_at_a_time(await make_database("deadlines"), kafka) as (runtime, handlers),
        runtime.pool.acquire() as conn,
    ):
        async with conn.transaction():
            for envelope in batch:
                if envelope is not poisoned:
                    await handlers[envelope.event_type](conn, envelope, REGISTRY.decode(envelope))
        expected = await snapshot(conn)

    assert {e[2] for e in batched["outbox"] if e[0] == str(a)} >= {"DeadlineCancelled"}
    assert batched == expected
