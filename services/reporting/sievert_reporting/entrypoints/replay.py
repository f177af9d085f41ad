"""``sievert replay reporting``: rebuild every reporting projection from the start of the log.

Stop the reporting service first: the rebuild empties the projection tables, then applies every
event on the projected topics with the live consumer's decoding, skipping and deduplication, and
the handlers' effects, so the result is what incremental processing gave. The events that change
incidents' rows (the hot events) are decoded by ``adapters.replay_decode`` (pydantic decides
whatever it does not accept) and folded by ``adapters.replay_store`` with the live consumer's
rule (``domain.incident_row.apply_change``); the others go through the projection's handlers.
A replay that stops half way leaves a half-built projection: run it again.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from sievert_reporting.adapters.replay_decode import FastDecoder
from sievert_reporting.adapters.replay_store import (
    Fold,
    bind_streams,
    copy_processed,
    copy_processed_in,
    reset,
    stream_tenants,
    writer,
)
from sievert_reporting.domain.incident_row import INCIDENT_ROW_EVENTS, incident_change
from sievert_reporting.entrypoints.consumers import (
    PROJECTION,
    PROJECTION_TABLES,
    processed_key,
    projected_topics,
)
from sievert_reporting.settings import ReportingSettings
from sievert_shared.db import Connection, create_pool, migrate
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import REGISTRY, Event, UndecodableEventError, UnknownEventError
from sievert_shared.kafka import partitions_of
from sievert_shared.logging import configure_logging, get_logger

SERVICE = "reporting"
log = get_logger(__name__)

Progress = Callable[[int, int], None]

#: Memory an incident folded but not written takes, about (with a decision: 1.8 GB peak for
#: 250,000 incidents, measured). Past ``max_rows`` of them, the fold is written and later events
#: merge into the rows written (UPDATE), which is slower than writing each row once.
ROW_BYTES = 4096
#: records per fetch at most
FETCH_RECORDS = 20_000
#: bytes per fetch at most (all partitions, then one partition), below the memory setting's share
FETCH_BYTES = 64 * 1024 * 1024
PARTITION_FETCH_BYTES = 16 * 1024 * 1024
#: records decoded between two turns of the event loop
READ_SLICE = 2_000
#: processed_events rows per COPY while reading
PROCESSED_CHUNK = 50_000
#: connections writing the folded rows at once (the machine this was measured on has 2 cores)
WRITERS = 2
#: incidents per early COPY (``Fold.write_early``), one in flight per writer connection
EARLY_CHUNK = 10_000


def register_replay(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("replay", help="rebuild a service's projections from the event log")
    parser.add_argument("service", choices=[SERVICE], help="the service whose projections to rebuild")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="incidents folded in memory before they are written (about 4 KB each; default: "
        "half of REPORTING_REPLAY_MEMORY_MB)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # A replay applies every event in the log: one info line per event (the consumer's
    # "event applied") would cost more than applying it. Warnings and errors still show.
    configure_logging(SERVICE, "warning")
    started = time.monotonic()
    count = asyncio.run(replay(ReportingSettings(), progress=_progress_bar(started), max_rows=args.max_rows))
    elapsed = time.monotonic() - started
    print(
        f"\nreplayed {count} events in {elapsed:.1f}s ({count / max(elapsed, 1e-9):,.0f} events/s)",
        file=sys.stderr,
    )
    return 0


async def replay(
    settings: ReportingSettings,
    *,
    progress: Progress | None = None,
    max_rows: int | None = None,
    early_chunk: int = EARLY_CHUNK,
) -> int:
    """Rebuild the projections; ``max_rows``: incidents folded in memory before they are written
    (default: ``memory_budget``'s); ``early_chunk``: incidents per early write of those that look
    complete."""
    budget = memory_budget(settings.replay_memory_mb)
    if max_rows is not None:
        budget = Budget(max_rows, budget.fetch_bytes, budget.partition_fetch_bytes)
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=3)
    try:
        await migrate(pool, "sievert_reporting.migrations")
        consumer_name = processed_key(SERVICE)
        await reset(pool, PROJECTION_TABLES, consumer_name)
        # A batch holds tens of thousands of fresh, acyclic objects (envelopes, events); the
        # cyclic collector would rescan them over and over (half the replay's time, profiled), and
        # reference counting frees them all anyway.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        dsn = settings.database_url.get_secret_value()
        writers = [await writer(dsn) for _ in range(WRITERS)]
        try:
            return await _read_and_apply(
                settings, pool, writers, consumer_name, progress, budget, early_chunk
            )
        finally:
            for each in writers:
                await each.close()
            if gc_was_enabled:
                gc.enable()
    finally:
        await pool.close()


async def _read_and_apply(
    settings: ReportingSettings,
    pool: asyncpg.Pool,
    writers: list[asyncpg.Connection],
    consumer_name: str,
    progress: Progress | None,
    budget: Budget,
    early_chunk: int,
) -> int:
    """Every record on the projected topics from the first offset to the end as it stands now.

    Like the live consumer (and ``IdempotentConsumer.replay``): the same decoding, the same
    events skipped (undecodable or unknown: they were dead-lettered when first consumed), each
    event id recorded in ``processed_events`` and applied once. Unlike it, the hot events are
    folded across fetches and written set-wise (``Fold``), other events are applied one
    transaction per fetch, and the live group's offsets are untouched."""
    partitions = await partitions_of(settings.kafka, projected_topics(settings.kafka.topics))
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_bytes=budget.fetch_bytes,
        max_partition_fetch_bytes=budget.partition_fetch_bytes,
        **settings.kafka.client_kwargs(),
    )
    applier = _Applier(pool, writers, consumer_name, budget.max_rows, early_chunk)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        total = sum(end[tp] - start[tp] for tp in partitions)
        remaining = {tp for tp in partitions if end[tp] > start[tp]}
        reader = _Reader(FastDecoder.build(), applier.fold, await stream_tenants(pool))
        bound_before = len(reader.tenants)
        read = 0
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=FETCH_RECORDS)
            batch = [(tp, r) for tp, records in batches.items() for r in records if r.offset < end[tp]]
            if batch:
                await applier.apply(reader, batch)
                read += len(batch)
            for tp in batches:
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(read, total)
        await applier.finish()
        await _bind_new_streams(pool, reader.tenants, bound_before)
        return read
    finally:
        applier.cancel()
        await consumer.stop()


@dataclass(frozen=True)
class Budget:
    """What the replay holds at once: incidents folded and not written, and bytes per fetch."""

    max_rows: int
    fetch_bytes: int
    partition_fetch_bytes: int


def memory_budget(memory_mb: int) -> Budget:
    """Half of ``memory_mb`` for the incidents folded, an eighth for a fetch (aiokafka holds the
    next fetch while this one's records and what they decode to are alive: two to three times its
    bytes); the rest is the interpreter, the event ids seen and the versions kept for the guards,
    which grow with the log (a few hundred bytes per incident)."""
    memory = memory_mb * 1024 * 1024
    fetch = max(1024 * 1024, min(FETCH_BYTES, memory // 8))
    return Budget(max(1, memory // 2 // ROW_BYTES), fetch, min(PARTITION_FETCH_BYTES, fetch))


@dataclass
class _Applier:
    """Applies what a fetch holds: folds the hot events, applies the others through their
    handlers, and writes to PostgreSQL in the background while the log is read on."""

    pool: asyncpg.Pool
    writers: list[asyncpg.Connection]
    consumer_name: str
    max_rows: int
    early_chunk: int
    fold: Fold = field(init=False)
    #: processed_events rows are final as soon as they are read: PostgreSQL writes them while
    #: the fold goes on (one COPY in flight), instead of after it
    copying: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.fold = Fold(self.consumer_name)

    async def apply(self, reader: _Reader, batch: list[tuple[TopicPartition, Record]]) -> None:
        others = []
        for at in range(0, len(batch), READ_SLICE):
            others += reader.read(batch[at : at + READ_SLICE])
            # the COPYs in the background are fed by this event loop: without a turn between
            # slices, PostgreSQL waits while a whole fetch is decoded
            await asyncio.sleep(0)
        if others:
            async with self.pool.acquire() as conn, conn.transaction():
                await _apply_others(conn, self.consumer_name, others)
        if len(self.fold.processed) >= PROCESSED_CHUNK:
            chunk, self.fold.processed = self.fold.processed, []
            if self.copying is not None:
                await self.copying
            self.copying = asyncio.create_task(copy_processed(self.pool, chunk))
        if len(self.fold.pending) >= self.max_rows:
            await self.fold.write(self.writers)
        self.fold.write_early(self.writers, self.early_chunk)

    async def finish(self) -> None:
        if self.copying is not None:
            await self.copying
        await self.fold.write(self.writers)

    def cancel(self) -> None:
        if self.copying is not None and not self.copying.done():
            self.copying.cancel()
        self.fold.cancel()


Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Other: TypeAlias = tuple[TopicPartition, Record, EventEnvelope, Event]


@dataclass
class _Reader:
    """Decodes records (fast path first, pydantic for the rest), drops repeats of an event id
    (the first copy in the log applies, as with ``processed_events``), folds the hot events and
    returns the others for their handlers."""

    fast: FastDecoder
    fold: Fold
    #: stream id (as int) -> the trust it is bound to: ``stream_tenants`` as the live consumer left
    #: it, then streams first seen here, in order (the consumer's tenancy wall, replayed)
    tenants: dict[int, str] = field(default_factory=dict)
    #: event ids as integers: ``UUID.__hash__`` is Python code, ``int`` hashing is not (profiled)
    seen: set[int] = field(default_factory=set)

    def _foreign(self, stream_id: uuid.UUID, trust: str, source: str) -> bool:
        """An event naming another trust than its stream's: the live consumer dead-lettered it."""
        bound = self.tenants.setdefault(stream_id.int, trust)
        if bound == trust:
            return False
        log.warning(
            "replay.skipped",
            source=source,
            reason=f"tenant mismatch: stream {stream_id} belongs to trust {bound}",
        )
        return True

    def read(self, batch: list[tuple[TopicPartition, Record]]) -> list[Other]:
        others: list[Other] = []
        fast, fold, seen = self.fast.decode, self.fold.add, self.seen
        for tp, record in batch:
            raw = record.value or b""
            change = fast(raw, _event_type(record))
            if change is None:
                try:
                    envelope = EventEnvelope.from_json_bytes(raw)
                    if envelope.event_type not in PROJECTION:
                        REGISTRY.latest_version(envelope.event_type)  # known but not projected: ignored
                        continue
                    event = REGISTRY.decode(envelope)
                except (ValidationError, UnknownEventError, UndecodableEventError) as exc:
                    log.warning(
                        "replay.skipped",
                        source=f"{tp.topic}/{tp.partition}/{record.offset}",
                        reason=str(exc)[:500],
                    )
                    continue
                if envelope.event_type not in INCIDENT_ROW_EVENTS:
                    if envelope.event_id.int not in seen:
                        seen.add(envelope.event_id.int)
                        if self._foreign(envelope.stream_id, envelope.tenant.trust, _source(tp, record)):
                            self._record_skipped(envelope.event_id, tp, record)
                            continue
                        others.append((tp, record, envelope, event))
                    continue
                change = incident_change(envelope, event)
            if (event_id := change.event_id.int) not in seen:
                seen.add(event_id)
                if self._foreign(change.stream_id, change.trust, _source(tp, record)):
                    self._record_skipped(change.event_id, tp, record)
                    continue
                fold(change, tp.topic, tp.partition, record.offset)
        return others

    def _record_skipped(self, event_id: uuid.UUID, tp: TopicPartition, record: Record) -> None:
        # as the live consumer does: a dead-lettered event's id is processed, its effect is none
        self.fold.processed.append((self.fold.consumer, event_id, tp.topic, tp.partition, record.offset))


def _source(tp: TopicPartition, record: Record) -> str:
    return f"{tp.topic}/{tp.partition}/{record.offset}"


async def _bind_new_streams(pool: asyncpg.Pool, tenants: dict[int, str], bound_before: int) -> None:
    """Record the streams this replay saw first, so the live consumer keeps their binding. The
    service is stopped during a replay, so nothing else binds them meanwhile."""
    # dicts keep insertion order: the preloaded bindings come first
    await bind_streams(pool, list(tenants.items())[bound_before:])


def _event_type(record: Record) -> str | None:
    for key, value in record.headers:
        if key == "event_type":
            return str(value.decode(errors="replace"))
    return None


async def _apply_others(conn: Connection, consumer_name: str, others: list[Other]) -> None:
    await copy_processed_in(
        conn,
        [
            (consumer_name, envelope.event_id, tp.topic, tp.partition, r.offset)
            for tp, r, envelope, _ in others
        ],
    )
    for _tp, _record, envelope, event in others:
        await PROJECTION[envelope.event_type](conn, envelope, event)


def _progress_bar(started: float) -> Progress:
    last = 0.0

    def show(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.25 and done < total:
            return
        last = now
        width = 30
        filled = int(width * done / total) if total else width
        rate = done / max(now - started, 1e-9)
        bar = "#" * filled + "-" * (width - filled)
        print(
            f"\rreplay reporting [{bar}] {done}/{total} events {rate:,.0f}/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return show
