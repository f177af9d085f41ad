"""Raw aiokafka throughput and latency on this machine: the ceiling the pipeline is held to.

Same client settings as the services (``sievert_shared.kafka.new_producer``: idempotent,
acks=all, linger 5 ms; a read_committed consumer polling up to 500 records) and the same
message: a real IncidentReported envelope (about 1.5 KB) with the relay's four headers, keyed
by incident id, on a fresh three-partition topic.

1. produce: send N messages as fast as the producer accepts them; the time runs to the last ack.
2. consume: read the N back from the beginning with a fresh consumer.
3. one hop: produce at a fixed rate open-loop and consume in the same process; the latency is
   read time - send time, the floor under each Kafka hop of the end-to-end path.

    .venv/bin/python bench/bench_kafka_raw.py [--messages 100000] [--rate 500] [--seconds 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not a package

from bench.bench_intake import (
    CpuMeter,
    delete_topics,
    describe_cpu,
    incident_facts,
    interrupt_on_sigterm,
    latency_ms,
    run,
    say,
    ticker,
    write_json,
)
from sievert_shared.envelope import Tenant
from sievert_shared.events import IncidentReported
from sievert_shared.facts import IncidentFacts
from sievert_shared.kafka import ensure_topics, new_producer
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings


def envelope_message() -> tuple[bytes, list[tuple[str, bytes]]]:
    """A real IncidentReported envelope, serialised and headed exactly as the outbox relay does."""
    facts = IncidentFacts.model_validate(incident_facts(dt.date(2025, 6, 2)))
    envelope = build_envelope(
        IncidentReported(facts=facts, channel="json", source_message_id=f"bench-{uuid.uuid4().hex}"),
        stream_id=uuid.uuid4(),
        stream_version=1,
        tenant=Tenant(trust="RXX", site="RXX01"),
        correlation_id=f"bench-raw-{uuid.uuid4()}",
        producer="intake",
        now=dt.datetime.now(dt.UTC),
    )
    value = json.dumps(envelope.model_dump(mode="json"), separators=(",", ":")).encode()
    headers = [
        ("event_type", envelope.event_type.encode()),
        ("schema_version", str(envelope.schema_version).encode()),
        ("correlation_id", envelope.correlation_id.encode()),
        ("content-type", b"application/json"),
    ]
    return value, headers


def new_reader(settings: KafkaSettings, topic: str) -> AIOKafkaConsumer:
    """The services' consumer settings, minus the group: every partition, from the beginning."""
    return AIOKafkaConsumer(
        topic,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=500,
        **settings.client_kwargs(),
    )


async def produce(producer: AIOKafkaProducer, topic: str, count: int) -> float:
    value, headers = envelope_message()
    keys = [str(uuid.uuid4()).encode() for _ in range(1024)]
    sent = 0
    started = time.perf_counter()
    progress = asyncio.create_task(
        ticker(
            2.0,
            lambda: f"  produce: {sent:,}/{count:,} sent, {sent / (time.perf_counter() - started):,.0f}/s",
        )
    )
    try:
        futures = []
        for n in range(count):
            # send() waits only when the accumulator is full: the producer's own back-pressure
            futures.append(await producer.send(topic, value=value, key=keys[n % len(keys)], headers=headers))
            sent += 1
        await asyncio.gather(*futures)
    finally:
        progress.cancel()
    return time.perf_counter() - started


async def consume(settings: KafkaSettings, topic: str, count: int) -> float:
    consumer = new_reader(settings, topic)
    await consumer.start()
    received = 0
    started = time.perf_counter()
    progress = asyncio.create_task(
        ticker(
            2.0,
            lambda: (
                f"  consume: {received:,}/{count:,} read, {received / (time.perf_counter() - started):,.0f}/s"
            ),
        )
    )
    try:
        while received < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            received += sum(len(records) for records in batches.values())
            if time.perf_counter() - started > 120:
                raise TimeoutError(f"read {received:,} of {count:,} in 120s")
        return time.perf_counter() - started
    finally:
        progress.cancel()
        await consumer.stop()


async def one_hop(
    settings: KafkaSettings, producer: AIOKafkaProducer, topic: str, rate: float, seconds: float
) -> dict[str, Any]:
    value, headers = envelope_message()
    consumer = new_reader(settings, topic)
    await consumer.start()
    sent: dict[bytes, float] = {}
    read: dict[bytes, float] = {}
    stop, all_read = asyncio.Event(), asyncio.Event()
    count = round(rate * seconds)

    async def follow() -> None:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    if record.key is not None:
                        read.setdefault(record.key, now)
            if len(read) >= count:
                all_read.set()

    following = asyncio.create_task(follow())
    try:
        futures = []
        started = time.perf_counter()
        for n in range(count):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            key = str(uuid.uuid4()).encode()
            sent[key] = time.perf_counter()
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_read.wait(), timeout=30)
    finally:
        stop.set()
        await following
        await consumer.stop()
    return {
        "rate": rate,
        "sent": len(sent),
        "missing": len(sent) - len(read),
        "latency_ms": latency_ms([read[k] - t for k, t in sent.items() if k in read]),
    }


async def measure(
    settings: KafkaSettings, args: argparse.Namespace
) -> tuple[dict[str, Any], list[list[str]]]:
    topics = settings.topics
    bulk, hop = f"{topics.prefix}.raw.v1", f"{topics.prefix}.raw-hop.v1"
    await ensure_topics(settings, [bulk, hop])  # three partitions, as the services' topics
    value, _ = envelope_message()
    meter = CpuMeter({})
    producer = new_producer(settings, client_id="bench-raw")
    await producer.start()
    try:
        say(f"produce: {args.messages:,} messages of {len(value):,} bytes, idempotent, acks=all")
        cpu_before = meter.sample()
        produce_s = await produce(producer, bulk, args.messages)
        cpu = CpuMeter.usage(cpu_before, meter.sample())
        produce_rate = args.messages / produce_s
        say(f"  {produce_rate:,.0f} msg/s, {produce_rate * len(value) / 1e6:,.1f} MB/s ({produce_s:.2f}s)")
        say(f"  {describe_cpu(cpu)}")

        say(f"consume: the {args.messages:,} back from the beginning")
        consume_s = await consume(settings, bulk, args.messages)
        consume_rate = args.messages / consume_s
        say(f"  {consume_rate:,.0f} msg/s, {consume_rate * len(value) / 1e6:,.1f} MB/s ({consume_s:.2f}s)")

        say(f"one hop: {args.rate:g} msg/s open loop for {args.seconds:g}s, produce -> consume")
        hop_figures = await one_hop(settings, producer, hop, args.rate, args.seconds)
        lat = hop_figures["latency_ms"]
        say(
            f"  latency p50 {lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} / "
            f"max {lat['max']:.1f} ms, {hop_figures['missing']} missing"
        )
    finally:
        await producer.stop()

    figures = {
        "message_bytes": len(value),
        "messages": args.messages,
        "produce_per_second": produce_rate,
        "consume_per_second": consume_rate,
        "raw_per_second": min(produce_rate, consume_rate),
        "produce_cpu_percent": cpu,
        "one_hop": hop_figures,
    }
    rows = [
        [
            f"produce, {len(value):,} B envelopes, idempotent acks=all",
            f"{produce_rate:,.0f} msg/s ({produce_rate * len(value) / 1e6:.1f} MB/s)",
            "",
            "",
        ],
        ["consume, read_committed, 500 a poll", f"{consume_rate:,.0f} msg/s", "", ""],
        [
            f"one hop produce -> consume p50/p95/p99/max at {args.rate:g}/s",
            f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} / {lat['max']:.1f} ms",
            "",
            "",
        ],
    ]
    return figures, rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages produced, then consumed")
    parser.add_argument("--rate", type=float, default=500, help="messages a second in the one-hop run")
    parser.add_argument("--seconds", type=float, default=5, help="duration of the one-hop run")
    parser.add_argument("--json", help="write the figures here for run_all")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    interrupt_on_sigterm()
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        raise SystemExit(
            'KAFKA_BOOTSTRAP_SERVERS not set: run `make bench`, or `eval "$(bash scripts/stack.sh env)"`'
        )
    settings = KafkaSettings(topic_prefix=f"bench-{uuid.uuid4().hex[:8]}")
    say(f"raw kafka bench: topics {settings.topic_prefix}.raw*.v1 on {settings.bootstrap_servers}")
    try:
        figures, rows = run(measure(settings, args))
    finally:
        run(delete_topics(settings.bootstrap_servers, settings.topic_prefix))
    write_json(args.json, "kafka-raw", figures, rows)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
