"""``sievert replay reporting``: rebuild every reporting projection from the start of the log.

Stop the reporting service first: the rebuild empties the projection tables, then applies every
event on the projected topics through the same handlers and the same idempotent path as live
consumption, so the result is what incremental processing gave.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from sievert_reporting.projection import HANDLERS, PROJECTION_CONSUMER, PROJECTION_TABLES, projected_topics
from sievert_reporting.replay_batch import apply_batch
from sievert_reporting.settings import ReportingSettings
from sievert_shared.db import create_pool, migrate
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import REGISTRY, Event, UndecodableEventError, UnknownEventError
from sievert_shared.kafka import partitions_of
from sievert_shared.logging import configure_logging, get_logger

SERVICE = "reporting"
log = get_logger(__name__)

Progress = Callable[[int, int], None]


def register_replay(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("replay", help="rebuild a service's projections from the event log")
    parser.add_argument("service", choices=[SERVICE], help="the service whose projections to rebuild")
    parser.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    # A replay applies every event in the log: one info line per event (the consumer's
    # "event applied") would cost more than applying it. Warnings and errors still show.
    configure_logging(SERVICE, "warning")
    started = time.monotonic()
    count = asyncio.run(replay(ReportingSettings(), progress=_progress_bar(started)))
    elapsed = time.monotonic() - started
    print(
        f"\nreplayed {count} events in {elapsed:.1f}s ({count / max(elapsed, 1e-9):,.0f} events/s)",
        file=sys.stderr,
    )
    return 0


async def replay(settings: ReportingSettings, *, progress: Progress | None = None) -> int:
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=2)
    try:
        await migrate(pool, "sievert_reporting.migrations")
        consumer_name = f"{SERVICE}.{PROJECTION_CONSUMER}"
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")
            await conn.execute("DELETE FROM processed_events WHERE consumer = $1", consumer_name)
        # A batch holds tens of thousands of fresh, acyclic objects (envelopes, events); the
        # cyclic collector would rescan them over and over (half the replay's time, profiled), and
        # reference counting frees them all anyway.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return await _read_and_apply(settings, pool, consumer_name, progress)
        finally:
            if gc_was_enabled:
                gc.enable()
    finally:
        await pool.close()


async def _read_and_apply(
    settings: ReportingSettings, pool: asyncpg.Pool, consumer_name: str, progress: Progress | None
) -> int:
    """Every record on the projected topics from the first offset to the end as it stands now.

    Like the live consumer (and ``IdempotentConsumer.replay``): the same decoding, the same
    events skipped (undecodable or unknown: they were dead-lettered when first consumed), each
    event id recorded in ``processed_events`` and applied once. Unlike it, one transaction covers
    everything one fetch returned across partitions, and the hot events are applied set-wise
    (``replay_batch``): the live group's offsets are untouched."""
    partitions = await partitions_of(settings.kafka, projected_topics(settings.kafka.topics))
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        **settings.kafka.client_kwargs(),
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        total = sum(end[tp] - start[tp] for tp in partitions)
        remaining = {tp for tp in partitions if end[tp] > start[tp]}
        read = 0
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=20_000)
            batch = [(tp, r) for tp, records in batches.items() for r in records if r.offset < end[tp]]
            if batch:
                await _apply(pool, consumer_name, batch)
                read += len(batch)
            for tp in batches:
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(read, total)
        return read
    finally:
        await consumer.stop()


async def _apply(
    pool: asyncpg.Pool, consumer_name: str, batch: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes]]]
) -> None:
    decoded: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes], EventEnvelope, Event]] = []
    for tp, record in batch:
        try:
            envelope = EventEnvelope.from_json_bytes(record.value or b"")
            if envelope.event_type not in HANDLERS:
                REGISTRY.latest_version(envelope.event_type)  # known but not projected: ignored
                continue
            decoded.append((tp, record, envelope, REGISTRY.decode(envelope)))
        except (ValidationError, UnknownEventError, UndecodableEventError) as exc:
            log.warning(
                "replay.skipped", source=f"{tp.topic}/{tp.partition}/{record.offset}", reason=str(exc)[:500]
            )
    if not decoded:
        return
    async with pool.acquire() as conn, conn.transaction():
        first_seen = {
            row["event_id"]
            for row in await conn.fetch(
                """INSERT INTO processed_events (consumer, event_id, topic, kafka_partition, kafka_offset)
                   SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[])
                   ON CONFLICT DO NOTHING RETURNING event_id""",
                consumer_name,
                [d[2].event_id for d in decoded],
                [d[0].topic for d in decoded],
                [d[0].partition for d in decoded],
                [d[1].offset for d in decoded],
            )
        }
        items = []
        for _tp, _record, envelope, event in decoded:
            if envelope.event_id in first_seen:
                first_seen.discard(envelope.event_id)  # the same event twice applies once
                items.append((envelope, event))
        await apply_batch(conn, items)


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
