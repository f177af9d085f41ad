"""The outbox loses nothing across a crash, and consumers apply every event exactly once.

Real PostgreSQL and Kafka: a relay that never ran (a crash after commit) publishes on start,
a relay that publishes twice (a crash after publish, before marking) is absorbed downstream,
and poison messages go to the dead-letter topic while the consumer goes on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, cast

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from sievert_shared.consumer import Handler, IdempotentConsumer
from sievert_shared.db import Connection, create_pool, migrate
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event, NotificationSubmitted
from sievert_shared.handlers import EventHandlers
from sievert_shared.kafka import ensure_topics, new_producer
from sievert_shared.outbox import Emitter, OutboxRelay, build_envelope
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import consume_until, envelopes, eventually, produce, read_topic

pytestmark = pytest.mark.integration

NOW = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
TENANT = Tenant(trust="RXX", site="RXX01")


@pytest.fixture
async def kafka(infra: Infra, topic_prefix: str) -> KafkaSettings:
    settings = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, settings.topics.all())
    return settings


@pytest.fixture
async def pool(make_database: Callable[[str], Any]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await make_database("outbox"))
    # reporting's migrations are a convenient service set; the shared set holds outbox and inbox
    await migrate(pool, "sievert_reporting.migrations")
    await pool.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, authority text NOT NULL)")
    try:
        yield pool
    finally:
        await pool.close()


def submitted(authority: str = "CQC") -> NotificationSubmitted:
    return NotificationSubmitted(authority=authority, submitted_at=NOW, submitted_by_role="RPA")


async def write_to_outbox(
    pool: asyncpg.Pool, kafka: KafkaSettings, count: int, authority: str = "CQC"
) -> list[EventEnvelope]:
    emitter = Emitter("test", kafka.topics, FakeClock(NOW))
    written: list[EventEnvelope] = []
    async with pool.acquire() as conn, conn.transaction():
        for _ in range(count):
            written += await emitter.emit(
                conn, [submitted(authority)], stream_id=uuid.uuid4(), tenant=TENANT, correlation_id="c-1"
            )
    return written


async def test_events_committed_before_a_crash_are_published_when_the_relay_starts(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    written = await write_to_outbox(pool, kafka, 5)  # committed, and the process "died" here
    producer = new_producer(kafka, client_id="relay-test")
    await producer.start()
    try:
        relay = OutboxRelay(pool, producer)
        assert await relay.publish_batch() == 5
        assert await relay.publish_batch() == 0  # marked: nothing is sent twice in normal running
    finally:
        await producer.stop()

    records = await read_topic(kafka.bootstrap_servers, kafka.topics.submissions, until=lambda r: len(r) >= 5)
    assert {e.event_id for e in envelopes(records)} == {e.event_id for e in written}
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


def ids(written: Sequence[EventEnvelope]) -> list[uuid.UUID]:
    return [e.event_id for e in written]


async def test_published_rows_are_purged_after_the_retention_and_nothing_else_is(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    """Old published rows go, a batch per statement; recent published rows and unpublished rows
    of any age stay; and the relay's own loop purges between rounds."""
    old_published = await write_to_outbox(pool, kafka, 7)
    recent_published = await write_to_outbox(pool, kafka, 2)
    old_unpublished = await write_to_outbox(pool, kafka, 3)
    await pool.execute(
        "UPDATE outbox SET published_at = now() - interval '8 days' WHERE event_id = ANY($1)",
        ids(old_published),
    )
    await pool.execute(
        "UPDATE outbox SET published_at = now() - interval '1 day' WHERE event_id = ANY($1)",
        ids(recent_published),
    )
    await pool.execute(
        "UPDATE outbox SET created_at = now() - interval '30 days' WHERE event_id = ANY($1)",
        ids(old_unpublished),
    )
    producer = new_producer(kafka, client_id="relay-test")
    await producer.start()
    try:
        relay = OutboxRelay(pool, producer, keep_published=dt.timedelta(days=7), purge_batch=3)
        assert await relay.purge_published() == 7  # batches of 3, 3 and 1
        left = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox")}
        assert left == set(ids(recent_published)) | set(ids(old_unpublished))
        assert await relay.purge_published() == 0

        # The loop: it publishes the three waiting rows, then purges what is past the retention.
        await pool.execute(
            "UPDATE outbox SET published_at = now() - interval '8 days' WHERE published_at IS NOT NULL"
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))

        async def only_the_just_published_left() -> None:
            assert {r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox")} == set(
                ids(old_unpublished)
            )
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

        try:
            await eventually(only_the_just_published_left, timeout=20)
        finally:
            stop.set()
            await running
    finally:
        await producer.stop()


async def test_a_relay_told_to_keep_everything_purges_nothing(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    written = await write_to_outbox(pool, kafka, 2)
    await pool.execute("UPDATE outbox SET published_at = now() - interval '400 days'")
    relay = OutboxRelay(pool, cast(AIOKafkaProducer, None), keep_published=None)
    assert await relay.purge_published() == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == len(written)


class UnknownAuthorityError(Exception):
    """A handler's refusal of an event: anything but a transient failure dead-letters it."""


async def record_effect(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    assert isinstance(event, NotificationSubmitted)
    if event.authority == "NOBODY":
        raise UnknownAuthorityError("no such enforcing authority")
    await conn.execute(
        "INSERT INTO effects (event_id, authority) VALUES ($1, $2)", envelope.event_id, event.authority
    )


class RefusesFirstSends:
    """A real producer that fails its first ``failures`` sends, as a broker that is down would."""

    def __init__(self, producer: AIOKafkaProducer, failures: int) -> None:
        self._producer = producer
        self.failures_left = failures

    async def send_and_wait(self, topic: str, **message: Any) -> Any:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise KafkaConnectionError("the dead-letter topic's broker is down")
        return await self._producer.send_and_wait(topic, **message)


async def run_consumer_until(
    pool: asyncpg.Pool,
    kafka: KafkaSettings,
    *,
    handled: int,
    dead: int = 0,
    dead_letter_failures: int = 0,
    handlers: Mapping[str, Handler] | None = None,
) -> IdempotentConsumer:
    return await consume_until(
        pool,
        kafka,
        name="effects",
        topics=[kafka.topics.submissions],
        handlers=handlers or {NotificationSubmitted.event_type: record_effect},
        handled=handled,
        dead=dead,
        dead_letters=lambda producer: RefusesFirstSends(producer, dead_letter_failures),
    )


async def test_a_republished_outbox_changes_nothing_downstream(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    await write_to_outbox(pool, kafka, 3)
    producer = new_producer(kafka, client_id="relay-test")
    await producer.start()
    try:
        relay = OutboxRelay(pool, producer)
        await relay.publish_batch()
        # a crash after publishing but before marking: the rows are published again
        await pool.execute("UPDATE outbox SET published_at = NULL")
        await relay.publish_batch()
    finally:
        await producer.stop()

    consumer = await run_consumer_until(pool, kafka, handled=6)

    assert consumer.stats.processed == 3
    assert consumer.stats.duplicates == 3
    assert await pool.fetchval("SELECT count(*) FROM effects") == 3


async def test_a_redelivered_batch_changes_nothing(pool: asyncpg.Pool, kafka: KafkaSettings) -> None:
    written = await write_to_outbox(pool, kafka, 4)
    await produce(
        kafka.bootstrap_servers, kafka.topics.submissions, [(e.key, e.to_json_bytes()) for e in written]
    )
    first = await run_consumer_until(pool, kafka, handled=4)
    assert first.stats.processed == 4
    before = await pool.fetch("SELECT * FROM effects ORDER BY event_id")

    # the broker delivers the same events again (e.g. after a rebalance before the commit)
    await produce(
        kafka.bootstrap_servers, kafka.topics.submissions, [(e.key, e.to_json_bytes()) for e in written]
    )
    second = await run_consumer_until(pool, kafka, handled=4)

    assert second.stats.processed == 0
    assert second.stats.duplicates == 4
    assert await pool.fetch("SELECT * FROM effects ORDER BY event_id") == before


async def test_poison_messages_are_dead_lettered_and_the_consumer_goes_on(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    (good,) = await write_to_outbox(pool, kafka, 1)
    from_the_future = good.model_copy(update={"event_id": uuid.uuid4(), "schema_version": 99})
    never_heard_of = good.model_copy(update={"event_id": uuid.uuid4(), "event_type": "PatientTeleported"})
    await produce(
        kafka.bootstrap_servers,
        kafka.topics.submissions,
        [
            (b"k", b"{not json"),
            (good.key, from_the_future.to_json_bytes()),
            (good.key, never_heard_of.to_json_bytes()),
            (good.key, good.to_json_bytes()),
        ],
    )

    consumer = await run_consumer_until(pool, kafka, handled=1, dead=3)

    assert consumer.stats.processed == 1
    dead = await read_topic(kafka.bootstrap_servers, kafka.topics.dead_letter, until=lambda r: len(r) >= 3)
    reasons = sorted(dict(r.headers)["dlq_reason"].decode() for r in dead)
    assert len(reasons) == 3
    assert any(r.startswith("undecodable envelope") for r in reasons)
    assert any("v99 is newer than this service knows" in r for r in reasons)
    assert any("unknown event type 'PatientTeleported'" in r for r in reasons)
    assert all(dict(r.headers)["dlq_source"].decode().startswith(kafka.topics.submissions) for r in dead)


async def test_a_rejected_event_is_dead_lettered_and_the_rest_of_its_batch_takes_effect(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    good = await write_to_outbox(pool, kafka, 3)
    (bad,) = await write_to_outbox(pool, kafka, 1, authority="NOBODY")
    same_partition = good[0].key  # one key, so all four arrive in one batch on one partition
    await produce(
        kafka.bootstrap_servers,
        kafka.topics.submissions,
        [(same_partition, e.to_json_bytes()) for e in [good[0], bad, good[1], good[2]]],
    )

    consumer = await run_consumer_until(pool, kafka, handled=3, dead=1)

    assert consumer.stats.processed == 3
    assert consumer.stats.dead_lettered == 1
    assert await pool.fetchval("SELECT count(*) FROM effects") == 3
    (dead,) = await read_topic(kafka.bootstrap_servers, kafka.topics.dead_letter, until=lambda r: len(r) >= 1)
    assert dict(dead.headers)["dlq_reason"] == b"UnknownAuthorityError: no such enforcing authority"


async def test_after_batch_runs_once_per_batch_with_the_events_that_applied_around_a_poison_one(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    await pool.execute("CREATE TABLE batches (event_ids uuid[] NOT NULL)")

    async def after_batch(conn: Connection, applied: Sequence[EventEnvelope]) -> None:
        await conn.execute("INSERT INTO batches (event_ids) VALUES ($1)", [e.event_id for e in applied])

    handlers = EventHandlers(after_batch=after_batch)
    handlers.add(NotificationSubmitted, record_effect)
    good = await write_to_outbox(pool, kafka, 3)
    (bad,) = await write_to_outbox(pool, kafka, 1, authority="NOBODY")
    same_partition = good[0].key  # one key, so all four arrive in one batch on one partition
    batch: list[tuple[bytes | None, bytes]] = [
        (same_partition, e.to_json_bytes()) for e in [good[0], bad, good[1], good[2]]
    ]
    await produce(kafka.bootstrap_servers, kafka.topics.submissions, batch)

    await run_consumer_until(pool, kafka, handled=3, dead=1, handlers=handlers)
    # the batch was redone one event at a time around the rejected one: the step ran once, after
    # the events that took effect, in their order
    assert [r["event_ids"] for r in await pool.fetch("SELECT event_ids FROM batches")] == [
        [e.event_id for e in good]
    ]

    # delivered again: nothing applies, so the step does not run
    await produce(kafka.bootstrap_servers, kafka.topics.submissions, batch)
    again = await run_consumer_until(pool, kafka, handled=4, handlers=handlers)
    assert again.stats.duplicates == 4
    assert await pool.fetchval("SELECT count(*) FROM batches") == 1


async def test_an_event_the_after_batch_step_refuses_is_dead_lettered_alone_and_the_rest_take_effect(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    """Every handler passes but the batch's own step fails on one event: before, the batch failed
    on every pass and its partition stalled for ever; now the step runs once per event in that
    event's savepoint, and only the event it refuses is dead-lettered."""
    await pool.execute("CREATE TABLE batches (event_ids uuid[] NOT NULL)")
    good = await write_to_outbox(pool, kafka, 4)
    refused = good[1]

    async def after_batch(conn: Connection, applied: Sequence[EventEnvelope]) -> None:
        if any(e.event_id == refused.event_id for e in applied):
            raise ValueError("the step cannot take this event")
        await conn.execute("INSERT INTO batches (event_ids) VALUES ($1)", [e.event_id for e in applied])

    handlers = EventHandlers(after_batch=after_batch)
    handlers.add(NotificationSubmitted, record_effect)
    same_partition = good[0].key  # one key, so all four arrive in one batch on one partition
    await produce(
        kafka.bootstrap_servers,
        kafka.topics.submissions,
        [(same_partition, e.to_json_bytes()) for e in good],
    )

    consumer = await run_consumer_until(pool, kafka, handled=3, dead=1, handlers=handlers)

    assert consumer.stats.processed == 3
    assert consumer.stats.dead_lettered == 1
    assert await pool.fetchval("SELECT count(*) FROM effects") == 3  # the refused event's undone
    assert [r["event_ids"] for r in await pool.fetch("SELECT event_ids FROM batches")] == [
        [e.event_id] for e in good if e is not refused
    ]
    (dead,) = await read_topic(kafka.bootstrap_servers, kafka.topics.dead_letter, until=lambda r: len(r) >= 1)
    assert dict(dead.headers)["dlq_reason"] == b"ValueError: the step cannot take this event"


class Tallies:
    """A cache of state read ahead, kept as a service keeps one: its ``before_batch`` reads the
    tally of every stream of the batch in one statement, and each handler counts its event on the
    cached tally (read from PostgreSQL when there is none) and writes it. An event of authority
    NOBODY is rejected after its handler has counted it, as a handler that fails late would."""

    def __init__(self) -> None:
        self.conn: Connection | None = None
        self.ahead: dict[uuid.UUID, int] = {}
        self.calls: list[list[uuid.UUID]] = []  # the envelopes of each call of the step

    async def read_ahead(self, conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
        self.calls.append([e.event_id for e in envelopes])
        rows = await conn.fetch(
            """SELECT s.id, COALESCE(t.n, 0) AS n FROM unnest($1::uuid[]) AS s (id)
               LEFT JOIN tallies t ON t.stream_id = s.id""",
            list({e.stream_id for e in envelopes}),
        )
        self.conn, self.ahead = conn, {r["id"]: r["n"] for r in rows}

    async def count(self, conn: Connection, envelope: EventEnvelope, event: NotificationSubmitted) -> None:
        cached = conn is self.conn and envelope.stream_id in self.ahead
        if cached:
            n = self.ahead[envelope.stream_id] + 1
            self.ahead[envelope.stream_id] = n
        else:
            n = (
                await conn.fetchval("SELECT n FROM tallies WHERE stream_id = $1", envelope.stream_id) or 0
            ) + 1
        await conn.execute(
            """INSERT INTO tallies (stream_id, n) VALUES ($1, $2)
               ON CONFLICT (stream_id) DO UPDATE SET n = excluded.n""",
            envelope.stream_id,
            n,
        )
        if event.authority == "NOBODY":
            raise UnknownAuthorityError("no such enforcing authority")


def on_streams(streams: Sequence[tuple[uuid.UUID, str]]) -> list[EventEnvelope]:
    """One submission per entry, numbered per stream in order."""
    versions: dict[uuid.UUID, int] = {}
    made = []
    for stream, authority in streams:
        versions[stream] = versions.get(stream, 0) + 1
        made.append(
            build_envelope(
                submitted(authority),
                stream_id=stream,
                stream_version=versions[stream],
                tenant=TENANT,
                correlation_id="c-1",
                producer="test",
                now=NOW,
            )
        )
    return made


@pytest.mark.parametrize("refused_by", ["handler", "after_batch"])
async def test_a_batch_read_ahead_never_serves_state_from_a_rolled_back_savepoint(
    pool: asyncpg.Pool, kafka: KafkaSettings, refused_by: str
) -> None:
    """``before_batch`` gets the batch's first-seen events on the pass that applies it whole, and
    none on the passes that isolate events in savepoints: an event that fails after changing the
    cache (its handler, or the batch's step in the third pass) is undone in PostgreSQL, and a
    cache still holding its change would count it for the stream's later events."""
    await pool.execute("CREATE TABLE tallies (stream_id uuid PRIMARY KEY, n int NOT NULL)")
    s, t = uuid.uuid4(), uuid.uuid4()
    bad = "NOBODY" if refused_by == "handler" else "CQC"
    batch = on_streams([(s, "CQC"), (t, "CQC"), (s, bad), (s, "CQC"), (t, "CQC")])
    refused = batch[2]
    tallies = Tallies()

    async def after_batch(conn: Connection, applied: Sequence[EventEnvelope]) -> None:
        if refused_by == "after_batch" and any(e.event_id == refused.event_id for e in applied):
            raise ValueError("the step cannot take this event")

    handlers = EventHandlers(after_batch=after_batch, before_batch=tallies.read_ahead)
    handlers.add(NotificationSubmitted, tallies.count)
    key = uuid.uuid4().bytes  # one key, so the batch arrives whole on one partition
    await produce(
        kafka.bootstrap_servers, kafka.topics.submissions, [(key, e.to_json_bytes()) for e in batch]
    )

    consumer = await run_consumer_until(pool, kafka, handled=4, dead=1, handlers=handlers)

    assert consumer.stats.processed == 4 and consumer.stats.dead_lettered == 1
    assert {r["stream_id"]: r["n"] for r in await pool.fetch("SELECT * FROM tallies")} == {s: 2, t: 2}
    passes = 2 if refused_by == "handler" else 3
    assert tallies.calls == [[e.event_id for e in batch]] + [[]] * (passes - 1)


async def test_a_rejected_event_is_dead_lettered_even_when_the_first_send_fails(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    """The rejected event is recorded as processed with its batch: if its dead-letter send fails
    after that commit, the retry would find it processed and it would be lost. The send happens
    before the commit, so the failure rolls the batch back and the retry sends it."""
    good = await write_to_outbox(pool, kafka, 2)
    (bad,) = await write_to_outbox(pool, kafka, 1, authority="NOBODY")
    same_partition = good[0].key
    await produce(
        kafka.bootstrap_servers,
        kafka.topics.submissions,
        [(same_partition, e.to_json_bytes()) for e in [good[0], bad, good[1]]],
    )

    consumer = await run_consumer_until(pool, kafka, handled=2, dead=1, dead_letter_failures=1)

    assert consumer.stats.processed == 2
    assert await pool.fetchval("SELECT count(*) FROM effects") == 2
    (dead,) = await read_topic(kafka.bootstrap_servers, kafka.topics.dead_letter, until=lambda r: len(r) >= 1)
    assert dict(dead.headers)["dlq_reason"] == b"UnknownAuthorityError: no such enforcing authority"


async def test_an_event_naming_another_trust_for_a_bound_stream_is_dead_lettered(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    stream = uuid.uuid4()
    other_trust = Tenant(trust="RYY", site="RYY01")

    def on_stream(authority: str, tenant: Tenant, version: int) -> EventEnvelope:
        return build_envelope(
            submitted(authority),
            stream_id=stream,
            stream_version=version,
            tenant=tenant,
            correlation_id="c-tenancy",
            producer="test",
            now=NOW,
        )

    # In one batch: the stream is bound to RXX by its first event; RYY's claim on it is refused.
    first_batch = [on_stream("CQC", TENANT, 1), on_stream("HIW", other_trust, 2), on_stream("HIS", TENANT, 3)]
    await produce(
        kafka.bootstrap_servers, kafka.topics.submissions, [(e.key, e.to_json_bytes()) for e in first_batch]
    )
    first = await run_consumer_until(pool, kafka, handled=2, dead=1)
    # In a later batch, the binding still holds.
    late_claim = on_stream("RQIA", other_trust, 4)
    await produce(
        kafka.bootstrap_servers, kafka.topics.submissions, [(late_claim.key, late_claim.to_json_bytes())]
    )
    second = await run_consumer_until(pool, kafka, handled=0, dead=1)

    assert (first.stats.processed, first.stats.dead_lettered) == (2, 1)
    assert (second.stats.processed, second.stats.dead_lettered) == (0, 1)
    assert sorted(r["authority"] for r in await pool.fetch("SELECT authority FROM effects")) == ["CQC", "HIS"]
    assert await pool.fetchval("SELECT trust FROM stream_tenants WHERE stream_id = $1", stream) == "RXX"
    dead = await read_topic(kafka.bootstrap_servers, kafka.topics.dead_letter, until=lambda r: len(r) >= 2)
    refused = {EventEnvelope.from_json_bytes(r.value or b"").event_id for r in dead}
    assert refused == {first_batch[1].event_id, late_claim.event_id}
    assert all(
        dict(r.headers)["dlq_reason"]
        .decode()
        .startswith(f"tenant mismatch: stream {stream} belongs to trust RXX")
        for r in dead
    )


async def test_a_batch_of_emissions_is_numbered_per_stream_and_published_in_order_once(
    pool: asyncpg.Pool, kafka: KafkaSettings
) -> None:
    """Several events per emission, two streams interleaved in one transaction: each stream's
    versions run on from where it stood, the outbox holds what ``emit`` returned, and one relay
    batch publishes every row once, each stream's events in their order."""
    emitter = Emitter("test", kafka.topics, FakeClock(NOW))
    first, second = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        emitted = await emitter.emit(
            conn,
            [submitted("A1"), submitted("A2"), submitted("A3")],
            stream_id=first,
            tenant=TENANT,
            correlation_id="c-1",
        )
        emitted += await emitter.emit(
            conn, [submitted("B1"), submitted("B2")], stream_id=second, tenant=TENANT, correlation_id="c-2"
        )
        emitted += await emitter.emit(
            conn, [submitted("A4"), submitted("A5")], stream_id=first, tenant=TENANT, correlation_id="c-1"
        )
    assert [(e.stream_id, e.stream_version) for e in emitted] == [
        *((first, v) for v in (1, 2, 3)),
        *((second, v) for v in (1, 2)),
        *((first, v) for v in (4, 5)),
    ]
    stored = [
        EventEnvelope.model_validate(row["envelope"])
        for row in await pool.fetch("SELECT envelope FROM outbox ORDER BY position")
    ]
    assert stored == emitted

    producer = new_producer(kafka, client_id="relay-batch-test")
    await producer.start()
    try:
        relay = OutboxRelay(pool, producer)
        assert await relay.publish_batch() == len(emitted)
        assert await relay.publish_batch() == 0
    finally:
        await producer.stop()

    records = await read_topic(
        kafka.bootstrap_servers, kafka.topics.submissions, until=lambda r: len(r) >= len(emitted)
    )
    published = envelopes(records)
    assert sorted(e.event_id for e in published) == sorted(e.event_id for e in emitted)  # each once
    for stream in (first, second):
        in_order = [e for e in emitted if e.stream_id == stream]
        assert [e for e in published if e.stream_id == stream] == in_order
