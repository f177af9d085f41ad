"""Reading topics in tests: poll until what we expect is there, with a deadline, never a sleep."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from sievert_shared.consumer import Handler, IdempotentConsumer
from sievert_shared.envelope import EventEnvelope
from sievert_shared.kafka import new_producer
from sievert_shared.settings import KafkaSettings


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 30.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on ``topic`` from the beginning, once ``until(records)`` holds."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while not until(records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: condition not met after {timeout}s; saw {len(records)} records")
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def envelopes(records: list[ConsumerRecord[bytes, bytes]]) -> list[EventEnvelope]:
    return [EventEnvelope.from_json_bytes(r.value) for r in records if r.value is not None]


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def eventually(check: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Poll an async or sync check until it stops raising AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                await result
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(interval)


async def consume_until(
    pool: asyncpg.Pool,
    kafka: KafkaSettings,
    *,
    name: str,
    topics: list[str],
    handlers: Mapping[str, Handler],
    handled: int,
    dead: int = 0,
    dead_letters: Callable[[AIOKafkaProducer], Any] = lambda producer: producer,
) -> IdempotentConsumer:
    """Run an ``IdempotentConsumer`` (group ``name``) over ``topics`` until it has handled (or
    skipped as a duplicate) at least ``handled`` events and dead-lettered at least ``dead``, then
    stop it; the caller asserts the exact figures. ``dead_letters`` wraps the dead-letter producer
    (a test's faulty one)."""
    producer = new_producer(kafka, client_id="dlq")
    await producer.start()
    consumer = IdempotentConsumer(
        name,
        pool=pool,
        kafka=kafka,
        topics=topics,
        handlers=handlers,
        dead_letter_producer=dead_letters(producer),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:

        def done() -> None:
            assert task.done() is False or task.exception() is None
            seen = consumer.stats.processed + consumer.stats.duplicates
            assert seen >= handled and consumer.stats.dead_lettered >= dead

        await eventually(done, timeout=45)
        return consumer
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)
        await producer.stop()
