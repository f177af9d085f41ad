"""Idempotent event consumers.

For each batch: decode every message, then in one PostgreSQL transaction record each event id
in ``processed_events`` together with the handler's effect (a savepoint per event), and only
after that transaction commits, commit the Kafka offsets. A redelivered event finds its id
already recorded and changes nothing. An event that cannot be decoded, is of an unknown type or
version, or that its handler rejects goes to the dead-letter topic with the reason, and the
consumer goes on.

A set of handlers may read the state its batch's events need in one statement before them
(``before_batch``) and do work that depends on the batch as a whole after them (``after_batch``).

Tenancy: each stream is bound to the trust it was first seen under (``stream_tenants``, in the
same transaction), and an event naming another trust for a bound stream is dead-lettered
without reaching the handler. Producers already refuse such events; this is the second wall.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError

from sievert_shared.db import Connection, ping
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import REGISTRY, Event, EventRegistry, UndecodableEventError, UnknownEventError
from sievert_shared.kafka import kafka_ready, new_consumer
from sievert_shared.logging import Throttle, get_logger, logged_after_commit
from sievert_shared.metrics import ServiceMetrics
from sievert_shared.settings import KafkaSettings
from sievert_shared.tracing import consuming
from sievert_shared.unavailable import unavailable_dependency

log = get_logger(__name__)

Handler = Callable[[Connection, EventEnvelope, Event], Awaitable[None]]
#: Run once per batch, in its transaction, after its handlers, with the envelopes that took
#: effect (none: not run): for work that depends on the batch as a whole rather than on each
#: event, such as a summary worth announcing once. A set of handlers offers it as ``after_batch``.
#: If it fails on a batch whose handlers all passed, it is run once per event instead, in each
#: event's savepoint, so the event it cannot take is dead-lettered alone.
AfterBatch = Callable[[Connection, Sequence[EventEnvelope]], Awaitable[None]]
#: Run at the start of each pass over a batch, in its transaction, before its handlers, with the
#: envelopes about to reach them (first seen, tenant checked): to read in one statement the state
#: their handlers would each read in a round trip of their own. A set of handlers offers it as
#: ``before_batch``. Each call starts a new transaction, so whatever the step read before is
#: stale. A pass that isolates events in savepoints calls it with no envelopes: state read ahead
#: of a savepoint that rolls back would outlive what it described, so there each handler reads
#: its own, as without the step.
BeforeBatch = Callable[[Connection, Sequence[EventEnvelope]], Awaitable[None]]


# Failures of the infrastructure itself are retried by restarting the batch; everything else a
# handler raises is a poison message and is dead-lettered so one bad event cannot stall a topic.
_TRANSIENT = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncio.TimeoutError)
# A batch that failed on these is read again by the same consumer after a pause: leaving and
# rejoining the group instead would stall every member while the group rebalances.
_RETRY_IN_PLACE = (
    *_TRANSIENT,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    KafkaError,
)


class ConsumerNotReadyError(Exception):
    """Why a consumer is not ready: not a member of its group yet, or too far behind."""


@dataclass
class _Decoded:
    record: ConsumerRecord[bytes, bytes]
    envelope: EventEnvelope
    event: Event


@dataclass
class _Applied:
    processed: int = 0
    duplicates: int = 0
    dead: list[tuple[ConsumerRecord[bytes, bytes], str]] = field(default_factory=list)
    applied_types: list[str] = field(default_factory=list)
    duplicate_types: list[str] = field(default_factory=list)
    envelopes: list[EventEnvelope] = field(default_factory=list)


@dataclass
class ConsumerStats:
    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    ignored: int = 0
    retried_batches: int = 0  # read again in place because a dependency was down


class IdempotentConsumer:
    def __init__(
        self,
        name: str,
        *,
        pool: asyncpg.Pool,
        kafka: KafkaSettings,
        topics: list[str],
        handlers: Mapping[str, Handler],
        dead_letter_producer: AIOKafkaProducer,
        registry: EventRegistry = REGISTRY,
        metrics: ServiceMetrics | None = None,
        retry_pause: tuple[float, float] = (0.25, 5.0),
    ) -> None:
        """``retry_pause``: the first and the longest pause before a batch whose dependency is
        down is read again (cut short when the dependency answers again)."""
        self.name = name
        self._metrics = metrics or ServiceMetrics(name.split(".")[0])
        self._pool = pool
        self._kafka = kafka
        self._topics = topics
        self._handlers = handlers
        self._after_batch: AfterBatch | None = getattr(handlers, "after_batch", None)
        self._before_batch: BeforeBatch | None = getattr(handlers, "before_batch", None)
        self._dlq = dead_letter_producer
        self._registry = registry
        self.stats = ConsumerStats()
        self.assigned = asyncio.Event()
        self._joined = False  # set by the group on every assignment, an empty one included
        #: the next offset to apply per owned partition, as this consumer last committed it:
        #: readiness counts lag from what is applied, not from what was fetched into memory
        self._applied_up_to: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._throttle = Throttle()
        self._retry_pause = retry_pause

    @property
    def group_id(self) -> str:
        return f"{self._kafka.topic_prefix}.{self.name}"

    async def run(self, stop: asyncio.Event) -> None:
        consumer = new_consumer(self._kafka, group_id=self.group_id, client_id=self.name)
        consumer.subscribe(self._topics, listener=_Membership(self))
        await consumer.start()
        self._consumer = consumer
        pause = _Backoff(*self._retry_pause)
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                if consumer.assignment():
                    self.assigned.set()
                try:
                    await self._process_batches(consumer, batches)
                except _RETRY_IN_PLACE as exc:
                    self.stats.retried_batches += 1
                    self._rewind(consumer, batches)
                    self._log_unavailable(exc, pause.delay)
                    await pause.wait(stop, self._probe_for(exc))
                    continue
                pause.reset()
                await self._metrics.sample_lag(self.name, consumer)
        finally:
            self._consumer = None
            self._joined = False
            await consumer.stop()

    async def _process_batches(
        self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        for tp, records in batches.items():
            started = time.perf_counter()
            await self._process(tp, records)
            await self._commit(consumer, tp, records[-1].offset + 1)
            records.clear()  # done: a retry of the rest must not rewind this partition
            self._metrics.batch_duration.labels(self.name).observe(time.perf_counter() - started)

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        """Commit after the effects are stored. A commit refused because the group moved the
        partition on is harmless: its next owner reads from the last committed offset and finds
        these event ids already recorded."""
        try:
            await consumer.commit({tp: offset})
            self._applied_up_to[tp] = offset
        except (CommitFailedError, IllegalStateError) as exc:
            log.info(
                "consumer.commit_skipped", consumer=self.name, partition=str(tp), reason=type(exc).__name__
            )

    def _rewind(
        self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        """Read the unfinished partitions of a failed batch again from their first record."""
        owned = consumer.assignment()
        for tp, records in batches.items():
            if records and tp in owned:
                consumer.seek(tp, records[0].offset)

    def _probe_for(self, exc: BaseException) -> Callable[[], Awaitable[None]]:
        """A cheap check that the dependency ``exc`` blames answers again: one round trip, no
        batch decoded or handler run."""
        dependency = unavailable_dependency(exc)
        pool, producer = self._pool, self._dlq

        async def database() -> None:
            await ping(pool)

        async def kafka() -> None:
            await kafka_ready(producer, within_seconds=1.0)

        async def both() -> None:
            await database()
            await kafka()

        return {"database": database, "kafka": kafka}.get(dependency or "", both)

    def _log_unavailable(self, exc: BaseException, retry_in: float) -> None:
        allowed, held_back = self._throttle.allow(type(exc).__name__)
        if allowed:
            log.warning(
                "consumer.dependency_unavailable",
                consumer=self.name,
                error=f"{type(exc).__name__}: {exc}",
                retry_in=retry_in,
                similar_lines_held_back=held_back,
            )

    async def readiness(self, max_lag: int) -> None:
        """Raises ``ConsumerNotReadyError`` unless the group has given this consumer its share
        (possibly none) and it is at most ``max_lag`` events behind the partitions it owns."""
        consumer = self._consumer
        if consumer is None or not self._joined:
            raise ConsumerNotReadyError(f"{self.name}: not yet a member of its group")
        lag = 0
        for tp in consumer.assignment():
            end = consumer.last_stable_offset(tp)
            if end is None:
                end = consumer.highwater(tp)
            if end is None:
                raise ConsumerNotReadyError(f"{self.name}: {tp.topic}/{tp.partition} not fetched yet")
            try:
                applied = self._applied_up_to.get(tp)
                if applied is None:  # nothing applied since the group gave it: where it stood then
                    applied = await consumer.committed(tp)
                if applied is None:  # never committed by the group: where the consumer starts
                    applied = await consumer.position(tp)
            except IllegalStateError:  # taken away by a rebalance since we looked
                continue
            lag += max(0, end - applied)
        if lag > max_lag:
            raise ConsumerNotReadyError(f"{self.name}: {lag} events behind (at most {max_lag})")

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> _Decoded | str | None:
        """The decoded event, a dead-letter reason, or None for a type this consumer ignores."""
        if record.value is None:
            return "empty message value"
        try:
            envelope = EventEnvelope.from_json_bytes(record.value)
        except ValidationError as exc:
            return f"undecodable envelope: {_errors(exc)}"
        if envelope.event_type not in self._handlers:
            try:
                self._registry.latest_version(envelope.event_type)
            except UnknownEventError as exc:
                return str(exc)
            return None
        try:
            event = self._registry.decode(envelope)
        except (UnknownEventError, UndecodableEventError) as exc:
            return str(exc)
        return _Decoded(record, envelope, event)

    async def _process(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        dead: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        decoded: list[_Decoded] = []
        for record in records:
            outcome = self._decode(record)
            if isinstance(outcome, _Decoded):
                decoded.append(outcome)
            elif isinstance(outcome, str):
                dead.append((record, outcome))
            else:
                self.stats.ignored += 1
        applied = _Applied()
        if decoded:
            try:
                # Lines about effects are written once the transaction has committed: a kill or a
                # rollback must not leave lines for work that did not happen.
                with logged_after_commit():
                    applied = await self._apply(tp, decoded, isolate=False)
            except _RETRY_IN_PLACE:
                self._metrics.retried(self.name, (d.envelope.event_type for d in decoded), "transient")
                raise
            except Exception:
                # Some event in the batch is poison. Redo the batch one savepoint per event, so
                # only that event is dead-lettered and the others still take effect.
                self._metrics.retried(self.name, (d.envelope.event_type for d in decoded), "poison_batch")
                try:
                    with logged_after_commit():
                        applied = await self._apply(tp, decoded, isolate=True)
                except _RETRY_IN_PLACE:
                    raise
                except Exception:
                    if self._after_batch is None:
                        raise
                    # Every handler passed, so the batch's own step failed on some event. Run the
                    # step for each event inside that event's savepoint, so the event it cannot
                    # take is dead-lettered alone instead of stalling the partition for ever.
                    with logged_after_commit():
                        applied = await self._apply(tp, decoded, isolate=True, step_per_event=True)
        for record, reason in dead:  # never decoded, so never recorded: a retry reads them again
            await self._dead_letter(record, reason)
        self.stats.processed += applied.processed
        self.stats.duplicates += applied.duplicates
        self.stats.dead_lettered += len(dead) + len(applied.dead)
        self._metrics.handled(self.name, applied.applied_types)
        self._metrics.duplicates(self.name, applied.duplicate_types)

    async def _apply(
        self, tp: TopicPartition, decoded: list[_Decoded], *, isolate: bool, step_per_event: bool = False
    ) -> _Applied:
        """One transaction for the batch: record every event id, read ahead for the first-seen
        ones (``before_batch``) and apply them. ``isolate``: each handler in a savepoint of its
        own, so one that fails is dead-lettered alone, and nothing read ahead;
        ``step_per_event``: the batch's ``after_batch`` step too, once per event in that event's
        savepoint."""
        applied = _Applied()
        async with self._pool.acquire() as conn, conn.transaction():
            first_seen, bound = await _record_batch(conn, self.name, tp, decoded)
            todo: list[_Decoded] = []
            for item in decoded:
                env = item.envelope
                if env.event_id not in first_seen:
                    applied.duplicates += 1
                    applied.duplicate_types.append(env.event_type)
                    continue
                first_seen.discard(env.event_id)  # the same event twice in one batch applies once
                if bound[env.stream_id] != env.tenant.trust:
                    reason = (
                        f"tenant mismatch: stream {env.stream_id} belongs to trust {bound[env.stream_id]}, "
                        f"the event names trust {env.tenant.trust}"
                    )
                    log.error("consumer.tenant_mismatch", consumer=self.name, event_id=str(env.event_id))
                    applied.dead.append((item.record, reason))
                    continue
                todo.append(item)
            if self._before_batch is not None:
                await self._before_batch(conn, [] if isolate else [item.envelope for item in todo])
            for item in todo:
                env = item.envelope
                with (
                    structlog.contextvars.bound_contextvars(
                        correlation_id=env.correlation_id,
                        event_id=str(env.event_id),
                        event_type=env.event_type,
                    ),
                    consuming(self._metrics.service, item.record.headers, tp.topic, env),
                ):
                    if not isolate:
                        await self._handlers[env.event_type](conn, env, item.event)
                    else:
                        try:
                            async with conn.transaction():
                                await self._handlers[env.event_type](conn, env, item.event)
                                if step_per_event and self._after_batch is not None:
                                    await self._after_batch(conn, [env])
                        except _TRANSIENT:
                            raise
                        except Exception as exc:
                            log.warning("consumer.handler_rejected", consumer=self.name, reason=str(exc))
                            applied.dead.append((item.record, f"{type(exc).__name__}: {exc}"))
                            continue
                    applied.processed += 1
                    applied.applied_types.append(env.event_type)
                    applied.envelopes.append(env)
                    log.info(
                        "consumer.event_applied",
                        consumer=self.name,
                        incident_id=str(env.stream_id),
                        offset=item.record.offset,
                    )
            if self._after_batch is not None and applied.envelopes and not step_per_event:
                await self._after_batch(conn, applied.envelopes)
            # These events are recorded as processed in this transaction, so they reach the
            # dead-letter topic before it commits: a send that fails rolls the batch back to be
            # read again, where after the commit its retry would find them "already processed"
            # and they would be lost. A commit that fails after the send dead-letters them twice.
            for record, reason in applied.dead:
                await self._dead_letter(record, reason)
        return applied

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        log.warning(
            "consumer.dead_lettered",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        await self._dlq.send_and_wait(
            f"{self._kafka.topic_prefix}.dead-letter.v1",
            value=record.value,
            key=record.key,
            headers=[
                ("dlq_reason", reason[:2000].encode()),
                ("dlq_consumer", self.name.encode()),
                ("dlq_source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ],
        )
        self._metrics.dead_lettered(self.name, record)


class _Membership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the consumer when the group has given it its share, so readiness can say so."""

    def __init__(self, owner: IdempotentConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self._owner._applied_up_to.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._owner._joined = True
        log.info("consumer.assigned", consumer=self._owner.name, partitions=len(assigned))


class _Backoff:
    """Capped exponential pause between retries of a batch whose dependency is down, cut short as
    soon as the dependency answers again: a blind pause that had grown to its cap (5 s) left a
    consumer idle for up to that long after PostgreSQL or Kafka was back. While it waits it
    checks the dependency every ``poll`` seconds, and the pause ends when a check that had failed
    succeeds; a check that succeeds from the start (the dependency looks fine, the batch failed
    for some other transient reason) leaves the full pause, so such a failure is not retried in
    a tight loop."""

    def __init__(self, first: float = 0.25, most: float = 5.0, poll: float = 0.25) -> None:
        self._first = first
        self._most = most
        self._poll = poll
        self.delay = first

    def reset(self) -> None:
        self.delay = self._first

    async def wait(self, stop: asyncio.Event, answers: Callable[[], Awaitable[None]] | None = None) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + self.delay
        self.delay = min(self.delay * 2, self._most)
        seen_down = False
        while not stop.is_set():
            left = until - loop.time()
            if left <= 0:
                return
            if answers is not None:
                try:
                    await asyncio.wait_for(answers(), timeout=max(self._poll, 1.0))
                except Exception:  # still down, whatever the error: keep pausing
                    seen_down = True
                else:
                    if seen_down:
                        return  # it is back: retry now, not at the end of the pause
                left = until - loop.time()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, min(left, self._poll)))


async def _record_batch(
    conn: Connection, consumer: str, tp: TopicPartition, decoded: list[_Decoded]
) -> tuple[set[uuid.UUID], dict[uuid.UUID, str]]:
    """Record every event id of the batch in ``processed_events``, and bind each stream to the
    trust of its first event in batch order (``stream_tenants``), in one round trip. Returns the
    ids recorded now (the rest were processed before) and the trust each stream is bound to.

    The stream rows bound before this statement are read from its snapshot and the ones it binds
    from its ``RETURNING``: a data-modifying CTE's rows are not visible to the rest of its
    statement."""
    rows = await conn.fetch(
        """WITH batch AS (
               SELECT * FROM unnest($4::uuid[], $5::bigint[], $6::uuid[], $7::text[]) WITH ORDINALITY
                   AS b (event_id, kafka_offset, stream_id, trust, ord)
           ), recorded AS (
               INSERT INTO processed_events (consumer, event_id, topic, kafka_partition, kafka_offset)
               SELECT $1, event_id, $2, $3, kafka_offset FROM batch
               ON CONFLICT DO NOTHING RETURNING event_id
           ), firsts AS (
               SELECT DISTINCT ON (stream_id) stream_id, trust FROM batch ORDER BY stream_id, ord
           ), bound_now AS (
               INSERT INTO stream_tenants (stream_id, trust) SELECT stream_id, trust FROM firsts
               ON CONFLICT DO NOTHING RETURNING stream_id, trust
           )
           SELECT event_id AS id, NULL::text AS trust FROM recorded
           UNION ALL
           SELECT stream_id, trust FROM bound_now
           UNION ALL
           SELECT s.stream_id, s.trust FROM stream_tenants s JOIN firsts USING (stream_id)""",
        consumer,
        tp.topic,
        tp.partition,
        [item.envelope.event_id for item in decoded],
        [item.record.offset for item in decoded],
        [item.envelope.stream_id for item in decoded],
        [item.envelope.tenant.trust for item in decoded],
    )
    first_seen: set[uuid.UUID] = set()
    bound: dict[uuid.UUID, str] = {}
    for row in rows:
        if row["trust"] is None:
            first_seen.add(row["id"])
        else:
            bound[row["id"]] = row["trust"]
    return first_seen, bound


def _errors(exc: ValidationError) -> str:
    return json.dumps(
        [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
    )
