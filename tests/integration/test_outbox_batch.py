"""The shared plumbing's batched statements, on real PostgreSQL and Kafka: the consumer records a
batch's event ids and binds its streams in one statement, ``emit_many`` numbers a batch of
emissions (a stream may come more than once), and the relay takes its lock in the statement that
reads the batch."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.kafka import new_producer
from sievert_shared.outbox import _RELAY_LOCK_KEY, Emission, Emitter, OutboxRelay, build_envelope
from sievert_shared.settings import KafkaSettings
from tests.integration.test_outbox_and_consumer import (  # noqa: F401  (kafka and pool are fixtures)
    NOW,
    TENANT,
    kafka,
    pool,
    run_consumer_until,
    submitted,
)
from tests.support.clock import FakeClock
from tests.support.kafka import produce

pytestmark = pytest.mark.integration

OTHER = Tenant(trust="RYY", site="RYY01")


def envelope_of(stream: uuid.UUID, tenant: Tenant = TENANT, authority: str = "CQC") -> EventEnvelope:
    return build_envelope(
        submitted(authority),
        stream_id=stream,
        stream_version=1,
        tenant=tenant,
        correlation_id="c-batch",
        producer="test",
        now=NOW,
    )


async def test_a_consumer_batch_records_each_event_once_and_binds_its_streams(
    pool: asyncpg.Pool,  # noqa: F811
    kafka: KafkaSettings,  # noqa: F811
) -> None:
    """One batch, on one partition: an event seen in an earlier batch, the same event twice, a new
    stream of another trust, and a stream bound to this trust whose event names another. Each
    event id is recorded once, the first copy applies, the stale one and the copy are duplicates,
    and the mismatched one is dead-lettered, not applied."""
    seen_before = envelope_of(uuid.uuid4())
    await pool.execute(
        """INSERT INTO processed_events (consumer, event_id, topic, kafka_partition, kafka_offset)
           VALUES ('effects', $1, 'earlier', 0, 0)""",
        seen_before.event_id,
    )
    bound_stream = uuid.uuid4()
    await pool.execute("INSERT INTO stream_tenants (stream_id, trust) VALUES ($1, $2)", bound_stream, "RXX")
    twice = envelope_of(uuid.uuid4())
    new_stream = envelope_of(uuid.uuid4(), OTHER, "HIW")
    forged = envelope_of(bound_stream, OTHER, "CQC")
    key = twice.key  # one key: one partition, so one batch
    await produce(
        kafka.bootstrap_servers,
        kafka.topics.submissions,
        [(key, e.to_json_bytes()) for e in (seen_before, twice, twice, new_stream, forged)],
    )

    consumer = await run_consumer_until(pool, kafka, handled=4, dead=1)

    assert (consumer.stats.processed, consumer.stats.duplicates, consumer.stats.dead_lettered) == (2, 2, 1)
    effects = {r["event_id"]: r["authority"] for r in await pool.fetch("SELECT * FROM effects")}
    assert effects == {twice.event_id: "CQC", new_stream.event_id: "HIW"}
    recorded = await pool.fetch(
        "SELECT event_id, processed_at FROM processed_events WHERE consumer = 'effects' AND topic <> 'earlier'"
    )
    assert sorted(r["event_id"] for r in recorded) == sorted(
        [twice.event_id, new_stream.event_id, forged.event_id]
    )
    assert len({r["processed_at"] for r in recorded}) == 1  # one transaction
    bound = {
        r["stream_id"]: r["trust"] for r in await pool.fetch("SELECT stream_id, trust FROM stream_tenants")
    }
    assert bound[new_stream.stream_id] == "RYY"
    assert bound[bound_stream] == "RXX"  # the forged event did not move it
    assert bound[twice.stream_id] == "RXX"


async def test_emit_many_batch_numbers_a_stream_given_twice_in_order_with_each_cause(
    pool: asyncpg.Pool,  # noqa: F811
    kafka: KafkaSettings,  # noqa: F811
) -> None:
    """A stream that comes in two emissions of one batch (two events about one incident) gets
    consecutive versions in the order given, each event keeps its own cause, actor and span, and
    the outbox holds them in that order."""
    emitter = Emitter("test", kafka.topics, FakeClock(NOW))
    first, second = uuid.uuid4(), uuid.uuid4()
    causes = [uuid.uuid4() for _ in range(3)]
    async with pool.acquire() as conn, conn.transaction():
        await emitter.emit(conn, [submitted("A0")], stream_id=first, tenant=TENANT, correlation_id="c-0")
        emitted = await emitter.emit_many(
            conn,
            [
                Emission(first, TENANT, "c-1", [submitted("A1"), submitted("A2")], causation_id=causes[0]),
                Emission(second, OTHER, "c-2", [submitted("B1")], causation_id=causes[1], actor="rpa-1"),
                Emission(
                    first,
                    TENANT,
                    "c-3",
                    [submitted("A3")],
                    causation_id=causes[2],
                    trace_context="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                Emission(second, OTHER, "c-4", []),  # nothing to emit: takes no version
            ],
        )
    assert [(e.stream_id, e.stream_version, e.causation_id, e.actor) for e in emitted] == [
        (first, 2, causes[0], None),
        (first, 3, causes[0], None),
        (second, 1, causes[1], "rpa-1"),
        (first, 4, causes[2], None),
    ]
    assert [e.tenant for e in emitted] == [TENANT, TENANT, OTHER, TENANT]
    rows = await pool.fetch("SELECT envelope, trace_context FROM outbox ORDER BY position")
    assert [EventEnvelope.model_validate(r["envelope"]) for r in rows][1:] == emitted
    assert [r["trace_context"] for r in rows][1:] == [
        None,
        None,
        None,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ]
    versions = {
        r["stream_id"]: r["version"] for r in await pool.fetch("SELECT * FROM emitted_stream_versions")
    }
    assert versions == {first: 4, second: 1}


async def test_a_relay_batch_reads_nothing_while_another_relay_holds_the_lock(
    pool: asyncpg.Pool,  # noqa: F811
    kafka: KafkaSettings,  # noqa: F811
) -> None:
    emitter = Emitter("test", kafka.topics, FakeClock(NOW))
    async with pool.acquire() as conn, conn.transaction():
        await emitter.emit(
            conn, [submitted(), submitted()], stream_id=uuid.uuid4(), tenant=TENANT, correlation_id="c"
        )
    producer = new_producer(kafka, client_id="relay-lock-test")
    await producer.start()
    try:
        relay = OutboxRelay(pool, producer)
        async with pool.acquire() as other_relay, other_relay.transaction():
            assert await other_relay.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK_KEY)
            assert await relay.publish_batch() == 0
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 2
        assert await relay.publish_batch() == 2  # the lock released with the other's transaction
        assert await relay.publish_batch() == 0
    finally:
        await producer.stop()
