"""The timer wheel under crashes and replicas, with the deadlines service as a real process over
real PostgreSQL and Kafka.

A backlog of overdue timers is made the way production makes one: the service's own
classification path applies thousands of classifications at instants in the past (a clock per
incident, the day after discovery), so every window, reminder and due timer is planned by the
domain and still pending. Started now, the process finds them all overdue. The expected outcome
is computed independently from the same rows with the pure domain (``fire`` at today's instant),
and compared with what the process wrote to the outbox, published on the topic and left in the
timer table.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import json
import os
import signal
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from sievert_classifier.domain import classify
from sievert_deadlines.adapters import store
from sievert_deadlines.domain import DEFAULT_POLICY, LONDON, IncidentDeadlines, PlannedTimer, fire
from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.db import Connection, create_pool
from sievert_shared.decision import ClassificationDecision
from sievert_shared.envelope import Tenant
from sievert_shared.events import DeadlineApproaching, DeadlineMissed, DeadlineOverdue, IncidentClassified
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack
from tests.support.infra import Infra
from tests.support.kafka import eventually, read_topic

pytestmark = pytest.mark.integration

FIRING_TYPES = (DeadlineApproaching.event_type, DeadlineMissed.event_type, DeadlineOverdue.event_type)
TENANTS = [Tenant(trust=t, site=f"{t}0{s}") for t in ("RXX", "RYY", "RZZ") for s in (1, 2)]
_STATE = TypeAdapter(IncidentDeadlines)

# (incident, event type, window, due_at, reminder offset or days overdue): one logical firing.
FiringKey = tuple[uuid.UUID, str, str, dt.datetime, str | int | None]
TimerRow = tuple[uuid.UUID, str, str, dt.datetime, dt.datetime, int | None, int | None]


# -- a backlog planned in the past by the service's own code ---------------------------------

_SEED_NOW: contextvars.ContextVar[dt.datetime] = contextvars.ContextVar("seed_now")


class SeedClock:
    """Each seeding task applies its classifications at its own instant in the past."""

    def now(self) -> dt.datetime:
        return _SEED_NOW.get()


def _decision(discovered_on: dt.date, notifiable: bool) -> ClassificationDecision:
    # England, adult CT: 12x a 1 mSv intended dose is code 2.2 (CQC table: 10x or more); 1.5x is
    # below every threshold and is investigated locally (Regulation 8(3)).
    facts = IncidentFacts.model_validate(
        {
            "nation": "england",
            "discovered_on": discovered_on.isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 60,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": 12.0 if notifiable else 1.5,
        }
    )
    decision = classify(facts)
    assert decision.notifiable is notifiable
    return decision


async def seed_backlog(database_url: str, kafka: KafkaSettings, *, incidents: int) -> None:
    """Classify ``incidents`` incidents discovered 10 to 110 days ago, each the day after its
    discovery: 70% notifiable (notification and report windows), 30% local. Nothing is due at
    those instants, so every timer is pending; today most of them are overdue, in a mix of
    current reminders, missed windows and overdue ticks, and the rest are still in the future.
    """
    today = dt.datetime.now(LONDON).date()
    settings = DeadlinesSettings(database_url=database_url, kafka=kafka, environment="test")
    # No relay: the outbox of DeadlineScheduled events is left for the process to publish.
    runtime = ServiceRuntime(
        name="deadlines",
        settings=settings,
        migrations_package="sievert_deadlines.migrations",
        clock=SeedClock(),
        relay=False,
    )
    service = DeadlinesService(runtime)
    decisions: dict[tuple[dt.date, bool], ClassificationDecision] = {}
    plan = []
    for i in range(incidents):
        discovered_on = today - dt.timedelta(days=10 + i % 101)
        notifiable = i % 10 < 7
        key = (discovered_on, notifiable)
        if key not in decisions:
            decisions[key] = _decision(discovered_on, notifiable)
        plan.append((uuid.uuid4(), TENANTS[i % len(TENANTS)], discovered_on, decisions[key]))

    async def classify_chunk(chunk: list[tuple[uuid.UUID, Tenant, dt.date, ClassificationDecision]]) -> None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            for incident, tenant, discovered_on, decision in chunk:
                seen_at = dt.datetime.combine(discovered_on + dt.timedelta(days=1), dt.time(9), dt.UTC)
                _SEED_NOW.set(seen_at)
                event = IncidentClassified(decision=decision, discovered_on=discovered_on, facts_version=1)
                envelope = build_envelope(
                    event,
                    stream_id=incident,
                    stream_version=1,
                    tenant=tenant,
                    correlation_id=f"seed-{incident}",
                    producer="classifier",
                    now=seen_at,
                )
                await service.on_classification(conn, envelope, event)

    async with runtime.lifespan():
        chunks = [plan[i : i + 100] for i in range(0, len(plan), 100)]
        for start in range(0, len(chunks), 8):  # 8 transactions at a time, within the pool
            await asyncio.gather(*(classify_chunk(c) for c in chunks[start : start + 8]))


# -- the expected outcome, from the pure domain ------------------------------------------------


@dataclass(frozen=True)
class Expected:
    at: dt.datetime
    due_timers: int
    firings: frozenset[FiringKey]
    timers_after: Counter[TimerRow]


def _row(t: PlannedTimer) -> TimerRow:
    return (t.incident_id, t.window_kind, t.kind.value, t.fire_at, t.due_at, t.days_before, t.days_overdue)


async def expected_outcome(conn: Connection, now: dt.datetime) -> Expected:
    """What firing every timer due at ``now`` must produce: each due timer fired once with the
    incident's stored state (the default policy: no trust has its own), its events, and the
    timers left pending (the future ones, plus each firing's next timer)."""
    states = {
        r["incident_id"]: _STATE.validate_python(json.loads(r["state"]))
        for r in await conn.fetch("SELECT incident_id, state::text AS state FROM incident_deadlines")
    }
    assert await conn.fetchval("SELECT count(*) FROM trust_policies") == 0
    everything = await store.due_timers(conn, list(states), dt.datetime.max.replace(tzinfo=dt.UTC))
    firings: set[FiringKey] = set()
    after: Counter[TimerRow] = Counter()
    due = 0
    for _, timer in everything:
        if timer.fire_at > now:
            after[_row(timer)] += 1
            continue
        due += 1
        firing = fire(timer, states[timer.incident_id], DEFAULT_POLICY, now)
        for event in firing.events:
            payload = event.model_dump(mode="json")
            firings.add(_key(timer.incident_id, event.event_type, payload))
        if firing.next_timer is not None:
            after[_row(firing.next_timer)] += 1
    return Expected(now, due, frozenset(firings), after)


def _key(incident: uuid.UUID, event_type: str, payload: Mapping[str, Any]) -> FiringKey:
    detail = payload.get("reminder", payload.get("days_overdue"))
    return (incident, event_type, payload["window"], dt.datetime.fromisoformat(payload["due_at"]), detail)


def envelope_key(envelope: Mapping[str, Any]) -> FiringKey:
    return _key(uuid.UUID(envelope["stream_id"]), envelope["event_type"], envelope["payload"])


# -- the process and the database, polled -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(infra: Infra, prefix: str, database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "DEADLINES_DATABASE_URL": database_url,
        "DEADLINES_HTTP_PORT": str(port),
        "DEADLINES_ENVIRONMENT": "test",
    }


def start_deadlines(
    infra: Infra, prefix: str, database_url: str, log_dir: Path, **settings: str
) -> devstack.RunningService:
    port = free_port()
    return devstack.start(
        "deadlines", {**process_env(infra, prefix, database_url, port), **settings}, port, log_dir
    )


def kill(service: devstack.RunningService) -> None:
    """SIGKILL: no shutdown hook runs, open transactions are cut off mid-flight."""
    os.killpg(service.process.pid, signal.SIGKILL)
    service.process.wait(timeout=10)


def alive(service: devstack.RunningService) -> None:
    if service.process.poll() is not None:
        tail = "\n".join(service.log_lines()[-30:])
        pytest.fail(f"deadlines exited with {service.process.returncode}:\n{tail}")


async def due_now(conn: Connection, at: dt.datetime | None = None) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM timers WHERE fire_at <= coalesce($1, now())", at)
    return count


async def unpublished(conn: Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return count


async def outbox_firings(conn: Connection) -> dict[uuid.UUID, FiringKey]:
    rows = await conn.fetch(
        "SELECT event_id, envelope::text AS envelope FROM outbox WHERE envelope->>'event_type' = ANY($1)",
        list(FIRING_TYPES),
    )
    return {r["event_id"]: envelope_key(json.loads(r["envelope"])) for r in rows}


async def pending_timers(conn: Connection) -> Counter[TimerRow]:
    rows = await conn.fetch(
        "SELECT incident_id, window_kind, kind, fire_at, due_at, days_before, days_overdue FROM timers"
    )
    return Counter(tuple(r.values()) for r in rows)


async def wait_until_drained(
    conn: Connection, services: Iterable[devstack.RunningService], *, timeout: float
) -> None:
    """No timer due now is left, and the relay has published everything."""

    async def drained() -> None:
        for service in services:
            alive(service)
        assert await due_now(conn) == 0
        assert await unpublished(conn) == 0

    await eventually(drained, timeout=timeout, interval=0.2)


def duplicated(keys: Iterable[FiringKey]) -> dict[FiringKey, int]:
    return {key: n for key, n in Counter(keys).items() if n > 1}


async def topic_firings(
    infra: Infra, topic: str, outbox: Mapping[uuid.UUID, FiringKey]
) -> tuple[dict[uuid.UUID, FiringKey], int]:
    """The firings on the topic, by event id (a relay republish repeats an event id), once every
    firing in the outbox is there; and how many records carried them."""
    wanted = set(outbox)
    seen: dict[uuid.UUID, FiringKey] = {}
    raw = 0
    read = 0

    def complete(records: list[Any]) -> bool:
        nonlocal raw, read
        for record in records[read:]:
            envelope = json.loads(record.value)
            if envelope["event_type"] in FIRING_TYPES:
                raw += 1
                seen[uuid.UUID(envelope["event_id"])] = envelope_key(envelope)
        read = len(records)
        return wanted <= seen.keys()

    await read_topic(infra.kafka_bootstrap, topic, until=complete, timeout=120)
    return seen, raw


def crossed_midnight(start: dt.datetime, end: dt.datetime) -> bool:
    """Every timer instant is a Europe/London midnight, so the expected outcome is the same at
    any instant of one London day; across a midnight the overdue counts move on."""
    return start.astimezone(LONDON).date() != end.astimezone(LONDON).date()


async def assert_fired_exactly_once(
    conn: Connection, infra: Infra, prefix: str, expected: Expected
) -> tuple[int, int]:
    """Returns (firings, topic records carrying them)."""
    outbox = await outbox_firings(conn)
    assert not duplicated(outbox.values()), "a timer fired twice into the outbox"

    on_topic, records = await topic_firings(
        infra, KafkaSettings(topic_prefix=prefix).topics.deadlines, outbox
    )
    assert on_topic == outbox, "the topic holds firings the outbox does not, or the reverse"
    assert not duplicated(on_topic.values()), "one firing published under two event ids"

    if crossed_midnight(expected.at, dt.datetime.now(dt.UTC)):
        pytest.skip("a London midnight passed during the run: no duplicates, but the oracle moved on")
    assert set(outbox.values()) == expected.firings, "a due timer's events are missing or extra"
    assert await pending_timers(conn) == expected.timers_after, "the pending timers are not the plan"
    return len(outbox), records


# -- the tests ---------------------------------------------------------------------------------


Backlog = tuple[str, Connection, Expected]


@pytest.fixture
async def backlog_db(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Backlog]:
    database_url: str = await make_database("dlrestart")
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await seed_backlog(database_url, kafka, incidents=5_000)
    pool = await create_pool(database_url, max_size=2)
    conn = await pool.acquire()
    expected = await expected_outcome(conn, dt.datetime.now(dt.UTC))
    assert await due_now(conn, expected.at) == expected.due_timers > 10_000
    assert expected.firings, "the backlog must make events"
    assert {k[1] for k in expected.firings} == set(FIRING_TYPES)
    try:
        yield database_url, conn, expected
    finally:
        await pool.release(conn)
        await pool.close()


async def test_sigkill_while_firing_then_restart_fires_every_due_timer_exactly_once(
    infra: Infra, topic_prefix: str, backlog_db: Backlog, tmp_path: Path
) -> None:
    database_url, conn, expected = backlog_db
    first = start_deadlines(infra, topic_prefix, database_url, tmp_path / "first")
    try:

        async def firing_under_way() -> None:
            alive(first)
            remaining = await due_now(conn, expected.at)
            assert remaining <= expected.due_timers * 3 // 4  # a quarter fired and committed

        await eventually(firing_under_way, timeout=120, interval=0.02)
        kill(first)
    finally:
        devstack.stop(first)

    left = await due_now(conn, expected.at)
    assert 0 < left < expected.due_timers, "the kill must land in the middle of the backlog"
    fired_before = len(await outbox_firings(conn))

    second = start_deadlines(infra, topic_prefix, database_url, tmp_path / "second")
    try:
        await asyncio.to_thread(devstack.wait_ready, [second])
        await wait_until_drained(conn, [second], timeout=180)
    finally:
        devstack.stop(second)

    firings, records = await assert_fired_exactly_once(conn, infra, topic_prefix, expected)
    print(
        f"\n{expected.due_timers} due timers; killed with {left} left and {fired_before} events written; "
        f"{firings} firing events in all, {records} records on the topic (republished: {records - firings})"
    )


# Each replica fires this many batches at once: four claims race over the backlog.
CONCURRENT_BATCHES = 2


async def test_two_replicas_never_fire_the_same_timer(
    infra: Infra, topic_prefix: str, backlog_db: Backlog, tmp_path: Path
) -> None:
    database_url, conn, expected = backlog_db
    replicas: list[devstack.RunningService] = []
    counts: list[int] = []

    def fired_by(service: devstack.RunningService) -> int:
        lines = [json.loads(line) for line in service.log_lines() if line.startswith("{")]
        return sum(line["count"] for line in lines if line.get("event") == "deadlines.timers_fired")

    async def both_waiting_at_the_gate() -> None:
        waiting = await conn.fetchval(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE relation = 'timers'::regclass AND NOT granted"
        )
        assert waiting == 2 * CONCURRENT_BATCHES  # every batch of both replicas

    async def every_firing_logged() -> None:
        counts[:] = [fired_by(r) for r in replicas]
        assert sum(counts) >= expected.due_timers

    try:
        # Both replicas start behind a lock on the timer table, so they meet the backlog
        # together rather than one firing it all while the other is still starting.
        gate = conn.transaction()
        await gate.start()
        try:
            await conn.execute("LOCK TABLE timers IN ACCESS EXCLUSIVE MODE")
            for name in ("a", "b"):
                # Small batches: the backlog takes many transactions, so each replica gets a share
                # even when the machine is busy and one of them is scheduled first.
                replicas.append(
                    start_deadlines(
                        infra,
                        topic_prefix,
                        database_url,
                        tmp_path / name,
                        DEADLINES_TIMER_BATCH_SIZE="20",
                        DEADLINES_TIMER_CONCURRENCY=str(CONCURRENT_BATCHES),
                    )
                )
            await asyncio.to_thread(devstack.wait_ready, replicas)
            await eventually(both_waiting_at_the_gate, timeout=30)
        finally:
            await gate.commit()
        await wait_until_drained(conn, replicas, timeout=180)
        await eventually(every_firing_logged, timeout=30)
    finally:
        for replica in replicas:
            devstack.stop(replica)

    assert all(n > 0 for n in counts), f"both replicas must take part: {counts}"
    firings, _ = await assert_fired_exactly_once(conn, infra, topic_prefix, expected)
    assert sum(counts) == expected.due_timers, f"timers claimed by the replicas: {counts}"
    print(
        f"\n{expected.due_timers} due timers fired by replicas a/b: {counts[0]}/{counts[1]}; {firings} events"
    )
