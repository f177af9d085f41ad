"""The batched timer claim and the batched outbox insert, against the real PostgreSQL.

A claim is one statement: it must take incidents in the order of their first due timer, never
one with no timer due yet, and never one another transaction holds, so two replicas claiming at
once get disjoint batches. The outbox takes a batch of envelopes in one insert, in their order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from sievert_deadlines.adapters import store, tasks_store
from sievert_deadlines.domain import DEFAULT_POLICY, PlannedTimer, on_classified
from sievert_shared.db import create_pool, migrate
from sievert_shared.envelope import Tenant
from sievert_shared.events import NotificationSubmitted
from sievert_shared.outbox import build_envelope, enqueue
from sievert_shared.topics import Topics

pytestmark = pytest.mark.integration

NOW = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
TENANT = Tenant(trust="RXX", site="RXX01")


@pytest.fixture
async def pool(make_database: Callable[[str], Any]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await make_database("claim_batch"), max_size=4)
    await migrate(pool, "sievert_deadlines.migrations")
    try:
        yield pool
    finally:
        await pool.close()


async def seed(pool: asyncpg.Pool, fire_offsets: list[int]) -> list[uuid.UUID]:
    """One incident per offset, each with one timer due ``offset`` minutes from NOW (negative:
    overdue). Returns the incidents in the order of their offsets."""
    ids: list[uuid.UUID] = []
    async with pool.acquire() as conn, conn.transaction():
        for offset in fire_offsets:
            incident_id = uuid.uuid4()
            decision = on_classified(
                None,
                incident_id=incident_id,
                notifiable=True,
                authority="cqc",
                discovered_on=NOW.date(),
                policy=DEFAULT_POLICY,
                now=NOW,
            )
            assert decision.deadlines is not None
            await store.save(conn, decision.deadlines, TENANT, "c-1", NOW)
            timer = decision.schedule_timers[0]
            await store.schedule_timers(
                conn,
                [
                    PlannedTimer(
                        incident_id=incident_id,
                        window=timer.window,
                        kind=timer.kind,
                        fire_at=NOW + dt.timedelta(minutes=offset),
                        due_at=timer.due_at,
                        days_before=timer.days_before,
                        days_overdue=timer.days_overdue,
                    )
                ],
            )
            ids.append(incident_id)
    return ids


async def test_a_batch_claim_takes_the_earliest_due_first_and_nothing_not_yet_due(pool: asyncpg.Pool) -> None:
    # seeded out of order, two not due yet
    offsets = [-5, -30, 10, -1, -60, 20, -10]
    ids = await seed(pool, offsets)
    by_offset = dict(zip(offsets, ids, strict=True))
    async with pool.acquire() as conn, conn.transaction():
        claimed = await store.claim_due_incidents(conn, NOW, 3)
        rest = await store.claim_due_incidents(conn, NOW, 100)  # its own locks do not skip
    assert [c.deadlines.incident_id for c in claimed] == [by_offset[-60], by_offset[-30], by_offset[-10]]
    assert [c.deadlines.incident_id for c in rest] == [by_offset[o] for o in (-60, -30, -10, -5, -1)]
    assert all(c.tenant == TENANT and c.correlation_id == "c-1" for c in claimed)


async def test_two_batch_claims_at_once_never_share_an_incident(pool: asyncpg.Pool) -> None:
    ids = await seed(pool, [-(i + 1) for i in range(12)])
    async with pool.acquire() as first, pool.acquire() as second:
        first_tx = first.transaction()
        await first_tx.start()
        try:
            a = await store.claim_due_incidents(first, NOW, 5)
            async with second.transaction():
                b = await store.claim_due_incidents(second, NOW, 100)
                task_claim = await tasks_store.claim_due(second, NOW, 100)
        finally:
            await first_tx.rollback()
    taken_a = {c.deadlines.incident_id for c in a}
    taken_b = {c.deadlines.incident_id for c in b}
    assert len(taken_a) == 5
    assert taken_a.isdisjoint(taken_b)
    assert taken_a | taken_b == set(ids)
    assert task_claim == []  # no task timers: the task claim finds nothing, and does not fail


async def test_a_batch_of_envelopes_goes_into_the_outbox_in_one_insert_in_order(pool: asyncpg.Pool) -> None:
    topics = Topics()
    envelopes = [
        build_envelope(
            NotificationSubmitted(authority="CQC", submitted_at=NOW, submitted_by_role="RPA"),
            stream_id=uuid.uuid4(),
            stream_version=1,
            tenant=TENANT,
            correlation_id=f"c-{i}",
            producer="test",
            now=NOW,
        )
        for i in range(50)
    ]
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, topics, envelopes)
        await enqueue(conn, topics, [])
    rows = await pool.fetch("SELECT event_id, topic, message_key, envelope FROM outbox ORDER BY position")
    assert [r["event_id"] for r in rows] == [e.event_id for e in envelopes]
    assert [bytes(r["message_key"]) for r in rows] == [e.key for e in envelopes]
    assert rows[0]["envelope"] == envelopes[0].model_dump(mode="json")
    assert {r["topic"] for r in rows} == {topics.submissions}
