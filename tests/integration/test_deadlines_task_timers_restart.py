"""Task timers under a crash and two replicas, with the deadlines service as a real process over
real PostgreSQL and Kafka, in the manner of ``test_deadlines_restart.py``.

A backlog is made the way production makes one: the tasks service's own classification path
opens the tasks of many CSAUEs at instants in the past (the day after each discovery), so every
task's reminders and due are planned by the domain and still pending. Started now, the process
finds them overdue. The expected outcome is computed independently from the same rows with the
pure domain (``fire_task_timer`` at today's instant) and compared with what the process wrote to
the outbox and published on the topic.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from sievert_classifier.domain import classify
from sievert_deadlines.adapters import tasks_store
from sievert_deadlines.domain import DEFAULT_POLICY, LONDON
from sievert_deadlines.domain.tasks import IncidentTasks, fire_task_timer
from sievert_deadlines.entrypoints.consumers import consumer_handlers
from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.service_layer.tasks import TasksService
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.db import Connection, create_pool
from sievert_shared.envelope import Tenant
from sievert_shared.events import IncidentClassified, TaskApproaching, TaskOverdue
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack
from tests.integration.test_deadlines_restart import _SEED_NOW, SeedClock, alive, kill, start_deadlines
from tests.support.infra import Infra
from tests.support.kafka import eventually, read_topic

pytestmark = pytest.mark.integration

FIRING_TYPES = (TaskApproaching.event_type, TaskOverdue.event_type)
TENANTS = [Tenant(trust=t, site=f"{t}01") for t in ("RXX", "RYY")]
_STATE = TypeAdapter(IncidentTasks)

# (incident, event type, task kind, due_at, reminder offset): one logical firing.
FiringKey = tuple[uuid.UUID, str, str, dt.datetime, str | None]


async def seed_tasks(database_url: str, kafka: KafkaSettings, *, incidents: int) -> None:
    """Classify ``incidents`` CSAUEs discovered 3 to 40 days ago, each the day after discovery,
    through the consumer's handler: their windows, and four tasks each (duty of candour,
    Regulation 8(1), early inspector contact, similar incidents) with reminders and due pending.
    Today the first three are mostly overdue or reminding; the report's own (12 weeks) is not yet
    due, and no report window event fires today (its first reminder is 4 weeks before, at 8
    weeks), so the window timers change no task while the task timers fire."""
    today = dt.datetime.now(LONDON).date()
    settings = DeadlinesSettings(database_url=database_url, kafka=kafka, environment="test")
    runtime = ServiceRuntime(
        name="deadlines",
        settings=settings,
        migrations_package="sievert_deadlines.migrations",
        clock=SeedClock(),
        relay=False,
    )
    tasks = TasksService(runtime)
    # the consumer's own handler: windows first, then the tasks under the same lock
    apply = consumer_handlers(DeadlinesService(runtime, observers=[tasks.on_window_events]), tasks)[
        IncidentClassified.event_type
    ]
    decisions = {}
    async with runtime.lifespan(), runtime.pool.acquire() as conn, conn.transaction():
        for i in range(incidents):
            discovered_on = today - dt.timedelta(days=3 + i % 38)
            if discovered_on not in decisions:
                decisions[discovered_on] = classify(
                    IncidentFacts.model_validate(
                        {
                            "nation": "england",
                            "discovered_on": discovered_on.isoformat(),
                            "exposure_kind": "unintended",
                            "modality": "ct",
                            "patient_age_years": 60,
                            "intended_effective_dose_msv": 1.0,
                            "total_effective_dose_msv": 12.0,
                            "clinically_significant": True,
                        }
                    )
                )
            seen_at = dt.datetime.combine(discovered_on + dt.timedelta(days=1), dt.time(9), dt.UTC)
            _SEED_NOW.set(seen_at)
            event = IncidentClassified(
                decision=decisions[discovered_on], discovered_on=discovered_on, facts_version=1
            )
            incident = uuid.uuid4()
            envelope = build_envelope(
                event,
                stream_id=incident,
                stream_version=1,
                tenant=TENANTS[i % len(TENANTS)],
                correlation_id=f"seed-{incident}",
                producer="classifier",
                now=seen_at,
            )
            await apply(conn, envelope, event)


def _key(incident: uuid.UUID, event_type: str, payload: dict[str, Any]) -> FiringKey:
    due_at = dt.datetime.fromisoformat(payload["due_at"])
    return (incident, event_type, payload["kind"], due_at, payload.get("reminder"))


async def expected_firings(conn: Connection, now: dt.datetime) -> tuple[int, frozenset[FiringKey]]:
    """Each task timer due at ``now`` fired once against the stored case, by the pure domain."""
    cases = {
        r["incident_id"]: _STATE.validate_python(json.loads(r["state"]))
        for r in await conn.fetch("SELECT incident_id, state::text AS state FROM incident_tasks")
    }
    due = await tasks_store.due_timers(conn, list(cases), now)
    firings = {
        _key(timer.incident_id, event.event_type, event.model_dump(mode="json"))
        for _, timer in due
        for event in fire_task_timer(timer, cases[timer.incident_id], DEFAULT_POLICY, now)
    }
    return len(due), frozenset(firings)


async def due_now(conn: Connection, at: dt.datetime | None = None) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM task_timers WHERE fire_at <= coalesce($1, now())", at
    )
    return count


async def outbox_firings(conn: Connection) -> dict[uuid.UUID, FiringKey]:
    rows = await conn.fetch(
        "SELECT event_id, envelope::text AS envelope FROM outbox WHERE envelope->>'event_type' = ANY($1)",
        list(FIRING_TYPES),
    )
    out = {}
    for r in rows:
        envelope = json.loads(r["envelope"])
        out[r["event_id"]] = _key(
            uuid.UUID(envelope["stream_id"]), envelope["event_type"], envelope["payload"]
        )
    return out


async def drained(conn: Connection, services: list[devstack.RunningService]) -> None:
    async def nothing_left() -> None:
        for service in services:
            alive(service)
        assert await due_now(conn) == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

    await eventually(nothing_left, timeout=180, interval=0.2)


async def assert_fired_exactly_once(
    conn: Connection, infra: Infra, prefix: str, expected: frozenset[FiringKey], at: dt.datetime
) -> int:
    outbox = await outbox_firings(conn)
    duplicates = {k: n for k, n in Counter(outbox.values()).items() if n > 1}
    assert not duplicates, f"a task timer fired twice: {duplicates}"
    seen: dict[uuid.UUID, FiringKey] = {}

    def complete(records: list[Any]) -> bool:
        for record in records:
            envelope = json.loads(record.value)
            if envelope["event_type"] in FIRING_TYPES:
                seen[uuid.UUID(envelope["event_id"])] = _key(
                    uuid.UUID(envelope["stream_id"]), envelope["event_type"], envelope["payload"]
                )
        return set(outbox) <= set(seen)

    await read_topic(
        infra.kafka_bootstrap, KafkaSettings(topic_prefix=prefix).topics.cases, until=complete, timeout=120
    )
    assert seen == outbox, "the topic holds task firings the outbox does not, or the reverse"
    if at.astimezone(LONDON).date() != dt.datetime.now(LONDON).date():
        pytest.skip("a London midnight passed during the run: no duplicates, but the oracle moved on")
    assert set(outbox.values()) == expected, "a due task timer's events are missing or extra"
    return len(outbox)


Backlog = tuple[str, Connection, int, frozenset[FiringKey], dt.datetime]


@pytest.fixture
async def task_backlog(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Backlog]:
    database_url: str = await make_database("dltaskrestart")
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await seed_tasks(database_url, kafka, incidents=1_500)
    pool = await create_pool(database_url, max_size=2)
    conn = await pool.acquire()
    at = dt.datetime.now(dt.UTC)
    due, firings = await expected_firings(conn, at)
    assert await due_now(conn, at) == due > 3_000
    assert {k[1] for k in firings} == set(FIRING_TYPES), "the backlog must remind and go overdue"
    try:
        yield database_url, conn, due, firings, at
    finally:
        await pool.release(conn)
        await pool.close()


async def test_task_timers_sigkill_then_restart_fire_every_due_timer_exactly_once(
    infra: Infra, topic_prefix: str, task_backlog: Backlog, tmp_path: Path
) -> None:
    database_url, conn, due, expected, at = task_backlog
    first = start_deadlines(
        infra, topic_prefix, database_url, tmp_path / "first", DEADLINES_TIMER_BATCH_SIZE="10"
    )
    try:

        async def under_way() -> None:
            alive(first)
            assert await due_now(conn, at) <= due * 3 // 4

        await eventually(under_way, timeout=120, interval=0.02)
        kill(first)
    finally:
        devstack.stop(first)
    left = await due_now(conn, at)
    assert 0 < left < due, "the kill must land in the middle of the backlog"

    second = start_deadlines(infra, topic_prefix, database_url, tmp_path / "second")
    try:
        await asyncio.to_thread(devstack.wait_ready, [second])
        await drained(conn, [second])
    finally:
        devstack.stop(second)
    fired = await assert_fired_exactly_once(conn, infra, topic_prefix, expected, at)
    print(f"\n{due} due task timers; killed with {left} left; {fired} task events, each once")


async def test_task_timers_two_replicas_never_fire_the_same_timer(
    infra: Infra, topic_prefix: str, task_backlog: Backlog, tmp_path: Path
) -> None:
    database_url, conn, due, expected, at = task_backlog
    replicas: list[devstack.RunningService] = []
    counts: list[int] = []

    def fired_by(service: devstack.RunningService) -> int:
        lines = [json.loads(line) for line in service.log_lines() if line.startswith("{")]
        return sum(line["count"] for line in lines if line.get("event") == "deadlines.task_timers_fired")

    async def both_waiting_at_the_gate() -> None:
        waiting = await conn.fetchval(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE relation = 'task_timers'::regclass AND NOT granted"
        )
        assert waiting == 2

    try:
        # Both replicas start behind a lock on the task timer table, so they meet the backlog together.
        gate = conn.transaction()
        await gate.start()
        try:
            await conn.execute("LOCK TABLE task_timers IN ACCESS EXCLUSIVE MODE")
            for name in ("a", "b"):
                replicas.append(
                    start_deadlines(
                        infra, topic_prefix, database_url, tmp_path / name, DEADLINES_TIMER_BATCH_SIZE="10"
                    )
                )
            await asyncio.to_thread(devstack.wait_ready, replicas)
            await eventually(both_waiting_at_the_gate, timeout=30)
        finally:
            await gate.commit()
        await drained(conn, replicas)

        async def every_firing_logged() -> None:
            counts[:] = [fired_by(r) for r in replicas]
            assert sum(counts) >= due

        await eventually(every_firing_logged, timeout=30)
    finally:
        for replica in replicas:
            devstack.stop(replica)
    assert all(n > 0 for n in counts), f"both replicas must take part: {counts}"
    assert sum(counts) == due, f"task timers claimed by the replicas: {counts}"
    await assert_fired_exactly_once(conn, infra, topic_prefix, expected, at)
