"""Recovery from a dependency that goes away, against real PostgreSQL and Kafka.

A service whose database stops answering says so with 503 and Retry-After on every route that
needs it, and on /readyz, and serves again when the database is back; a consumer is ready only
once its group has given it its partitions and it has caught up to the lag bound.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.settings import DeadlinesSettings
from sievert_intake.bootstrap import build as build_intake
from sievert_intake.settings import IntakeSettings
from sievert_reporting.bootstrap import build as build_reporting
from sievert_reporting.settings import ReportingSettings
from sievert_shared.consumer import ConsumerNotReadyError, IdempotentConsumer
from sievert_shared.db import Connection, create_pool, migrate
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event, NotificationSubmitted
from sievert_shared.kafka import ensure_topics, new_producer
from sievert_shared.outbox import build_envelope
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings, ServiceSettings
from tests.support.infra import Infra
from tests.support.kafka import eventually, produce

pytestmark = pytest.mark.integration

TENANT = Tenant(trust="RXX", site="RXX01")


def _intake(url: str, kafka: KafkaSettings) -> tuple[ServiceRuntime, FastAPI]:
    return build_intake(IntakeSettings(database_url=url, kafka=kafka, environment="test"))


def _classifier(url: str, kafka: KafkaSettings) -> tuple[ServiceRuntime, FastAPI]:
    return build_classifier(ClassifierSettings(database_url=url, kafka=kafka, environment="test"))


def _deadlines(url: str, kafka: KafkaSettings) -> tuple[ServiceRuntime, FastAPI]:
    runtime, app, _ = build_deadlines(DeadlinesSettings(database_url=url, kafka=kafka, environment="test"))
    return runtime, app


def _reporting(url: str, kafka: KafkaSettings) -> tuple[ServiceRuntime, FastAPI]:
    return build_reporting(ReportingSettings(database_url=url, kafka=kafka, environment="test"))


# Each service, and a route of it that reads its database (the classifier's only route is a pure
# dry run, so its readiness speaks for it).
SERVICES = [
    pytest.param(_intake, f"/v1/incidents/{uuid.uuid4()}", 404, id="intake"),
    pytest.param(_classifier, None, None, id="classifier"),
    pytest.param(_deadlines, "/v1/deadlines?trust=RXX", 200, id="deadlines"),
    pytest.param(_reporting, "/v1/incidents?trust=RXX", 200, id="reporting"),
]


async def _cut_off(admin_url: str, database: str, *, cut: bool) -> None:
    """Refuse every new connection to ``database`` and end the open ones (or allow them again),
    without touching the server other tests share."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT {0 if cut else -1}')
        if cut:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
    finally:
        await admin.close()


@pytest.mark.parametrize(("build", "route", "usual_status"), SERVICES)
async def test_dependency_down_503_with_retry_after_then_serves_again(
    infra: Infra,
    topic_prefix: str,
    make_database: Callable[[str], Any],
    build: Callable[[str, KafkaSettings], tuple[ServiceRuntime, FastAPI]],
    route: str | None,
    usual_status: int | None,
) -> None:
    url: str = await make_database("down503")
    database = urlsplit(url).path.lstrip("/")
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    runtime, app = build(url, kafka)
    async with runtime.lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            if route is not None:
                assert (await client.get(route)).status_code == usual_status
            await _cut_off(infra.admin_database_url, database, cut=True)
            try:
                if route is not None:
                    for _ in range(2):  # a pooled connection that died, then a refused new one
                        answer = await client.get(route)
                        assert answer.status_code == 503, answer.text
                        assert answer.headers["Retry-After"].isdigit()
                        assert answer.headers["content-type"] == "application/problem+json"
                        assert answer.json()["status"] == 503
                ready = await client.get("/readyz")
                assert ready.status_code == 503, ready.text
                assert ready.headers["Retry-After"].isdigit()
                assert ready.json()["checks"]["postgres"].startswith("unavailable")
            finally:
                await _cut_off(infra.admin_database_url, database, cut=False)

            async def serves_again() -> None:
                if route is not None:
                    assert (await client.get(route)).status_code == usual_status
                assert (await client.get("/readyz")).json()["checks"]["postgres"] == "ok"

            await eventually(serves_again, timeout=30)


async def test_dependency_down_503_when_every_pooled_connection_is_held(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    """A database that accepts connections but has none free (slow queries hold them all) is an
    outage to the caller too: after the bounded wait it gets 503 with Retry-After, not a request
    that hangs until its own client gives up."""
    url: str = await make_database("held503")
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    settings = IntakeSettings(
        database_url=url,
        kafka=kafka,
        environment="test",
        database_pool_max=3,
        database_acquire_timeout_seconds=0.5,
    )
    runtime, app = build_intake(settings)
    route = f"/v1/incidents/{uuid.uuid4()}"
    async with runtime.lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            assert (await client.get(route)).status_code == 404
            pool = runtime.pool
            held: list[Any] = []

            async def hold_every_connection() -> None:
                # Always first in line: a connection the relay gives back (its loop fails on the
                # same bounded wait and retries) comes here, never to the request under test.
                while True:
                    held.append(await pool.acquire(timeout=60))

            holder = asyncio.create_task(hold_every_connection())
            try:
                await eventually(lambda: _assert_all_held(pool, held), timeout=10)
                started = asyncio.get_running_loop().time()
                answer = await client.get(route)
                waited = asyncio.get_running_loop().time() - started
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"].isdigit()
                assert answer.headers["content-type"] == "application/problem+json"
                assert waited < 5, f"the request waited {waited:.1f} s for a connection"
            finally:
                holder.cancel()
                for conn in held:
                    await pool.release(conn)
            assert (await client.get(route)).status_code == 404


async def _assert_all_held(pool: asyncpg.Pool, held: list[Any]) -> None:
    assert len(held) == pool.get_max_size(), f"{len(held)} of {pool.get_max_size()} connections held"


# -- readiness waits for the group's assignment and the lag bound -------------------------------


@pytest.fixture
async def pool(make_database: Callable[[str], Any]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await make_database("ready"))
    await migrate(pool, "sievert_reporting.migrations")  # the shared set holds the inbox
    try:
        yield pool
    finally:
        await pool.close()


def _submitted(stream: uuid.UUID) -> EventEnvelope:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    event = NotificationSubmitted(authority="CQC", submitted_at=now, submitted_by_role="RPA")
    return build_envelope(
        event,
        stream_id=stream,
        stream_version=1,
        tenant=TENANT,
        correlation_id="ready",
        producer="t",
        now=now,
    )


async def test_ready_when_assigned_and_caught_up_not_before(
    infra: Infra, topic_prefix: str, pool: asyncpg.Pool
) -> None:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    backlog = [_submitted(uuid.uuid4()) for _ in range(1200)]
    await produce(
        infra.kafka_bootstrap, kafka.topics.submissions, [(e.key, e.to_json_bytes()) for e in backlog]
    )
    release = asyncio.Event()
    handled = 0

    async def slow(_conn: Connection, _envelope: EventEnvelope, _event: Event) -> None:
        nonlocal handled
        await release.wait()  # the first batch waits here: the rest of the backlog is not read yet
        handled += 1

    producer = new_producer(kafka, client_id="dlq")
    await producer.start()
    consumer = IdempotentConsumer(
        "ready",
        pool=pool,
        kafka=kafka,
        topics=[kafka.topics.submissions],
        handlers={NotificationSubmitted.event_type: slow},
        dead_letter_producer=producer,
    )
    stop = asyncio.Event()
    with pytest.raises(ConsumerNotReadyError, match="not yet a member"):
        await consumer.readiness(max_lag=100)
    task = asyncio.create_task(consumer.run(stop))
    try:

        async def why_not_ready() -> str | None:
            try:
                await consumer.readiness(max_lag=100)
            except ConsumerNotReadyError as exc:
                return str(exc)
            return None

        async def joined_but_behind() -> None:
            assert "events behind" in str(await why_not_ready())

        await eventually(joined_but_behind, timeout=30)
        assert handled == 0  # joined, fetched, and still not ready: nothing is applied yet
        release.set()

        async def ready() -> None:
            assert await why_not_ready() is None

        await eventually(ready, timeout=60)
        assert handled >= len(backlog) - 100
    finally:
        release.set()
        stop.set()
        await task
        await producer.stop()


async def test_a_batch_waiting_out_a_dead_database_is_read_again_as_soon_as_it_answers(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    url: str = await make_database("retry")
    database = urlsplit(url).path.lstrip("/")
    pool = await create_pool(url, acquire_timeout=5)
    await migrate(pool, "sievert_reporting.migrations")  # the shared set holds the inbox
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    applied: list[uuid.UUID] = []

    async def record(_conn: Connection, envelope: EventEnvelope, _event: Event) -> None:
        applied.append(envelope.event_id)

    producer = new_producer(kafka, client_id="dlq")
    await producer.start()
    # A pause of ten minutes after a failed batch: slept out blind, the event would wait that long
    # after the database was back, and the test would time out.
    consumer = IdempotentConsumer(
        "retry",
        pool=pool,
        kafka=kafka,
        topics=[kafka.topics.submissions],
        handlers={NotificationSubmitted.event_type: record},
        dead_letter_producer=producer,
        retry_pause=(600.0, 600.0),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    event = _submitted(uuid.uuid4())
    try:
        await asyncio.wait_for(consumer.assigned.wait(), timeout=60)
        await _cut_off(infra.admin_database_url, database, cut=True)
        try:
            await produce(
                infra.kafka_bootstrap, kafka.topics.submissions, [(event.key, event.to_json_bytes())]
            )

            def failed_on_the_database() -> None:
                assert consumer.stats.retried_batches >= 1

            await eventually(failed_on_the_database, timeout=30)
            assert applied == []
        finally:
            await _cut_off(infra.admin_database_url, database, cut=False)

        def applied_once_back() -> None:
            assert applied == [event.event_id]

        await eventually(applied_once_back, timeout=30)
        assert consumer.stats.dead_lettered == 0
    finally:
        stop.set()
        await task
        await producer.stop()
        await pool.close()


def test_the_lag_bound_is_a_setting() -> None:
    assert ServiceSettings.model_fields["ready_max_consumer_lag"].default == 1000
