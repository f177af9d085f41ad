"""Transactional outbox: events are written with the state change, and a relay publishes them.

A crash between commit and publish loses nothing (the row stays unpublished); a crash between
publish and marking re-publishes, which consumers absorb because they deduplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from pydantic_core import to_json

from sievert_shared.clock import Clock
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event
from sievert_shared.kafka import headers_for
from sievert_shared.logging import get_logger
from sievert_shared.metrics import ServiceMetrics
from sievert_shared.topics import Topics
from sievert_shared.tracing import PublishSpans, current_traceparent

log = get_logger(__name__)

# Only one relay per database publishes at a time, so events of one incident leave in the order
# they were committed even with several replicas running.
_RELAY_LOCK_KEY = 0x0B7B0C5


def build_envelope(
    event: Event,
    *,
    stream_id: uuid.UUID,
    stream_version: int,
    tenant: Tenant,
    correlation_id: str,
    producer: str,
    now: dt.datetime,
    occurred_at: dt.datetime | None = None,
    causation_id: uuid.UUID | None = None,
    actor: str | None = None,
) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        event_type=event.event_type,
        schema_version=event.schema_version,
        stream_id=stream_id,
        stream_version=stream_version,
        occurred_at=occurred_at or now,
        recorded_at=now,
        tenant=tenant,
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor=actor,
        producer=producer,
        payload=event.model_dump(mode="json"),
    )


def sibling_envelope(
    template: EventEnvelope,
    event: Event,
    *,
    event_id: uuid.UUID,
    stream_id: uuid.UUID,
    now: dt.datetime,
) -> EventEnvelope:
    """What ``build_envelope`` gives for ``event`` on a new stream (at ``template``'s version)
    with ``template``'s tenant, correlation and causation ids, actor and producer, without
    validating again what ``template`` was validated for: many events of one request differ
    only in their ids, instants and payload, and those are ours (fresh ids, the clock's
    aware instant, the dump of an event model that is already valid). The envelope's
    validation was the largest cost of a bulk file's line."""
    if (event.event_type, event.schema_version) != (template.event_type, template.schema_version):
        raise ValueError(
            f"{event.event_type} v{event.schema_version} in a {template.event_type} "
            f"v{template.schema_version} envelope"
        )
    if now.tzinfo is None:
        raise ValueError("naive datetime: every instant in Sievert is timezone-aware")
    return template.model_copy(
        update={
            "event_id": event_id,
            "stream_id": stream_id,
            "occurred_at": now,
            "recorded_at": now,
            "payload": event.model_dump(mode="json"),
        }
    )


def topic_of(event: Event | type[Event], topics: Topics) -> str:
    name: str = event.topic  # type: ignore[union-attr]
    return str(getattr(topics, name))


async def enqueue(
    conn: Connection,
    topics: Topics,
    envelopes: Sequence[EventEnvelope],
    *,
    trace_contexts: Sequence[str | None] | None = None,
) -> None:
    """Add envelopes to the outbox inside the caller's transaction.

    One statement for any number of envelopes, each serialised once by pydantic straight to JSON
    text that PostgreSQL parses into jsonb: ``executemany`` with a dict per row cost a
    ``model_dump``, a ``json.dumps`` and a bind per row. Rows take their positions in the order
    given (``WITH ORDINALITY``), which is the order the relay publishes them in.

    Each row carries the span that emitted it, for the relay to continue: the current one, or,
    for a batch whose envelopes were caused by events handled in spans of their own, one
    ``trace_contexts`` entry per envelope (None: the current span)."""
    from sievert_shared.events import REGISTRY

    if not envelopes:
        return
    current = current_traceparent()
    if trace_contexts is None:
        contexts: list[str | None] = [current] * len(envelopes)
    else:
        if len(trace_contexts) != len(envelopes):
            raise ValueError("one trace context per envelope")
        contexts = [context or current for context in trace_contexts]
    await conn.execute(
        """INSERT INTO outbox (event_id, topic, message_key, envelope, trace_context)
           SELECT event_id, topic, message_key, envelope::jsonb, trace_context
           FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::text[]) WITH ORDINALITY
                AS batch (event_id, topic, message_key, envelope, trace_context, ord)
           ORDER BY ord""",
        [envelope.event_id for envelope in envelopes],
        [
            topic_of(REGISTRY.model_for(envelope.event_type, envelope.schema_version), topics)
            for envelope in envelopes
        ],
        [envelope.key for envelope in envelopes],
        [envelope.model_dump_json() for envelope in envelopes],
        contexts,
    )


@dataclass(frozen=True)
class Emission:
    """Events for one incident's stream, for ``Emitter.emit_many``: what ``emit`` takes."""

    stream_id: uuid.UUID
    tenant: Tenant
    correlation_id: str
    events: Sequence[Event]
    causation_id: uuid.UUID | None = None
    actor: str | None = None
    #: the span these events were caused in (None: the current one), carried on by the relay
    trace_context: str | None = None


class Emitter:
    """Builds envelopes for a service that emits events in reaction to others (or to timers),
    numbering its own stream versions per incident, and writes them to the outbox."""

    def __init__(self, producer_name: str, topics: Topics, clock: Clock) -> None:
        self.producer_name = producer_name
        self.topics = topics
        self.clock = clock

    async def emit(
        self,
        conn: Connection,
        events: Sequence[Event],
        *,
        stream_id: uuid.UUID,
        tenant: Tenant,
        correlation_id: str,
        causation_id: uuid.UUID | None = None,
        actor: str | None = None,
    ) -> list[EventEnvelope]:
        if not events:
            return []
        last = await conn.fetchval(
            """INSERT INTO emitted_stream_versions AS s (stream_id, version) VALUES ($1, $2)
               ON CONFLICT (stream_id) DO UPDATE SET version = s.version + $2
               RETURNING version""",
            stream_id,
            len(events),
        )
        first = last - len(events) + 1
        now = self.clock.now()
        envelopes = [
            build_envelope(
                event,
                stream_id=stream_id,
                stream_version=first + i,
                tenant=tenant,
                correlation_id=correlation_id,
                producer=self.producer_name,
                now=now,
                causation_id=causation_id,
                actor=actor,
            )
            for i, event in enumerate(events)
        ]
        await enqueue(conn, self.topics, envelopes)
        return envelopes

    async def emit_many(self, conn: Connection, emissions: Sequence[Emission]) -> list[EventEnvelope]:
        """``emit`` for many emissions in two statements: one version upsert, one outbox insert.
        A stream may appear in several emissions; its versions run on in the order given, and the
        outbox holds the envelopes in that order."""
        emissions = [e for e in emissions if e.events]
        if not emissions:
            return []
        counts: dict[uuid.UUID, int] = {}
        for emission in emissions:
            counts[emission.stream_id] = counts.get(emission.stream_id, 0) + len(emission.events)
        # Locked in one order everywhere (a consumer and a timer loop may emit for the same
        # streams at once), so two such statements wait for each other instead of deadlocking.
        streams = sorted(counts)
        rows = await conn.fetch(
            """INSERT INTO emitted_stream_versions AS s (stream_id, version)
               SELECT * FROM unnest($1::uuid[], $2::int[])
               ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version
               RETURNING stream_id, version""",
            streams,
            [counts[s] for s in streams],
        )
        # the next version of each stream: the last one taken, less what this call numbers
        following = {r["stream_id"]: r["version"] - counts[r["stream_id"]] + 1 for r in rows}
        now = self.clock.now()
        envelopes: list[EventEnvelope] = []
        trace_contexts: list[str | None] = []
        for emission in emissions:
            first = following[emission.stream_id]
            following[emission.stream_id] = first + len(emission.events)
            for i, event in enumerate(emission.events):
                envelopes.append(
                    build_envelope(
                        event,
                        stream_id=emission.stream_id,
                        stream_version=first + i,
                        tenant=emission.tenant,
                        correlation_id=emission.correlation_id,
                        producer=self.producer_name,
                        now=now,
                        causation_id=emission.causation_id,
                        actor=emission.actor,
                    )
                )
                trace_contexts.append(emission.trace_context)
        await enqueue(conn, self.topics, envelopes, trace_contexts=trace_contexts)
        return envelopes

    async def emit_caused_by(
        self, conn: Connection, cause: EventEnvelope, events: Sequence[Event]
    ) -> list[EventEnvelope]:
        return await self.emit(
            conn,
            events,
            stream_id=cause.stream_id,
            tenant=cause.tenant,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
            actor=cause.actor,
        )


class OutboxRelay:
    """Publishes unpublished outbox rows in commit order, woken by NOTIFY or a short poll."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 1000,
        poll_interval: float = 0.5,
        metrics: ServiceMetrics | None = None,
        keep_published: dt.timedelta | None = dt.timedelta(days=7),
        purge_every: float = 300.0,
        purge_batch: int = 5000,
    ) -> None:
        """``keep_published``: how long a published row stays (None: for ever). Kafka holds the
        event from then on, and replays read it there; a recent row only helps to tell what a
        service published and when. ``purge_every`` seconds the relay deletes older ones,
        ``purge_batch`` rows per statement, so a first purge of a long-lived table neither holds
        a long transaction nor keeps the relay from publishing for long."""
        self._metrics = metrics or ServiceMetrics("outbox")
        self._pool = pool
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._keep_published = keep_published
        self._purge_every = purge_every
        self._purge_batch = purge_batch
        self._purged_at: float | None = None
        self._wake = asyncio.Event()
        self.published_total = 0

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        async with self._pool.acquire() as listener:
            await listener.add_listener("outbox", self._on_notify)
            try:
                await self._publish_until(stop)
            finally:
                await _remove_listener(listener, self._on_notify)

    async def _publish_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the read, not after it: a NOTIFY arriving while a batch is being
            # published must wake the next wait, or its rows wait out a whole poll interval.
            self._wake.clear()
            published = await self.publish_batch()
            if published == self._batch_size:
                continue  # more are waiting
            await self._purge_when_due()
            stop_wait = asyncio.ensure_future(stop.wait())
            wake_wait = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait(
                    {stop_wait, wake_wait},
                    timeout=self._poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                stop_wait.cancel()
                wake_wait.cancel()

    async def publish_batch(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            # The lock and the read in one round trip: the uncorrelated subquery is evaluated once,
            # before the scan, and a relay that does not get the lock reads nothing.
            rows = await conn.fetch(
                """SELECT position, topic, message_key, envelope, trace_context FROM outbox
                   WHERE (SELECT pg_try_advisory_xact_lock($1)) AND published_at IS NULL
                   ORDER BY position LIMIT $2""",
                _RELAY_LOCK_KEY,
                self._batch_size,
            )
            if not rows:
                return 0
            pending = []
            spans = PublishSpans(self._metrics.service)
            for row in rows:
                envelope = row["envelope"]
                traced = spans.start(row["topic"], envelope, row["trace_context"])
                pending.append(
                    await self._producer.send(
                        row["topic"],
                        # compact JSON as json.dumps(separators=(",", ":")) wrote it, in Rust
                        value=to_json(envelope),
                        key=bytes(row["message_key"]),
                        headers=headers_for(envelope) + traced,
                    )
                )
            try:
                await asyncio.gather(*pending)
            finally:
                spans.end()
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])",
                [row["position"] for row in rows],
            )
        self.published_total += len(rows)
        for topic, count in Counter(row["topic"] for row in rows).items():
            self._metrics.outbox_published.labels(topic).inc(count)
        log.debug("outbox.published", count=len(rows))
        return len(rows)

    async def _purge_when_due(self) -> None:
        """Between publishing rounds, never in the middle of a backlog (publishing comes first)."""
        if self._keep_published is None:
            return
        now = asyncio.get_running_loop().time()
        if self._purged_at is not None and now - self._purged_at < self._purge_every:
            return
        self._purged_at = now
        purged = await self.purge_published()
        if purged:
            log.info("outbox.purged", rows=purged, kept_for=str(self._keep_published))

    async def purge_published(self) -> int:
        """Delete the rows published longer than ``keep_published`` ago, oldest first, one batch
        per statement (each its own transaction); return how many. Rows not yet published are
        never touched, however old."""
        if self._keep_published is None:
            return 0
        purged = 0
        while True:
            async with self._pool.acquire() as conn:
                # The oldest positions are the oldest rows: the primary key is walked from its
                # start and stops after one batch, whatever the table's size.
                count: int = await conn.fetchval(
                    """WITH gone AS (
                           DELETE FROM outbox WHERE position IN (
                               SELECT position FROM outbox
                               WHERE published_at < now() - $1::interval
                               ORDER BY position LIMIT $2)
                           RETURNING 1)
                       SELECT count(*) FROM gone""",
                    self._keep_published,
                    self._purge_batch,
                )
            purged += count
            self._metrics.outbox_purged.inc(count)
            if count < self._purge_batch:
                return purged


async def waiting_rows(pool: asyncpg.Pool) -> tuple[int, float]:
    """Outbox rows not yet published, and the age in seconds of the oldest (0 when none waits)."""
    async with pool.acquire(timeout=1) as conn:
        row = await conn.fetchrow(
            """SELECT count(*) AS waiting,
                      coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age
               FROM outbox WHERE published_at IS NULL"""
        )
    assert row is not None
    return int(row["waiting"]), max(0.0, float(row["oldest_age"]))


async def _remove_listener(listener: Connection, callback: Callable[..., None]) -> None:
    """Stop listening before the connection goes back to the pool (its reset keeps session
    state). A connection that died under us (PostgreSQL restarted) has nothing to remove, and the
    pool discards it on release; removing from it would raise and hide why the relay stopped."""
    try:
        if not listener.is_closed():
            await listener.remove_listener("outbox", callback)
    except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
        # a half-dead connection (or one the pool took back at shutdown): never reuse it with a
        # stale listener on it
        with contextlib.suppress(asyncpg.InterfaceError):
            listener.terminate()


__all__ = [
    "Emission",
    "Emitter",
    "OutboxRelay",
    "build_envelope",
    "enqueue",
    "sibling_envelope",
    "topic_of",
    "waiting_rows",
]
