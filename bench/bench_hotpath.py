"""CPU per call of the shared hot-path pieces every emitted event goes through, in this process.

The machine the end-to-end benches run on is shared and busy, so their CPU ms per incident move by
more than these pieces cost. This one times each piece alone against a scratch PostgreSQL database
(process CPU time, so a busy machine slows it down but does not inflate it):

* ``Emitter.emit`` of one event in its own transaction: what the classifier and deadlines pay
  per event they emit;
* ``OutboxRelay.publish_batch`` of 500 waiting rows, publishing to Kafka: the relay's share of an
  event in every service.

    .venv/bin/python bench/bench_hotpath.py [--emits 2000] [--rows 500] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not a package

from bench.bench_intake import Infra, say, scratch
from sievert_shared.clock import SystemClock
from sievert_shared.db import create_pool, migrate
from sievert_shared.envelope import Tenant
from sievert_shared.events import NotificationSubmitted
from sievert_shared.kafka import ensure_topics, new_producer
from sievert_shared.logging import configure_logging
from sievert_shared.outbox import Emitter, OutboxRelay
from sievert_shared.settings import KafkaSettings

TENANT = Tenant(trust="RXX", site="RXX01")


async def measure(database_url: str, kafka: KafkaSettings, emits: int, rows: int, rounds: int) -> None:
    pool = await create_pool(database_url, max_size=2)
    producer = new_producer(kafka, client_id="bench-hotpath")
    await producer.start()
    try:
        await migrate(pool, "sievert_classifier")
        emitter = Emitter("bench", kafka.topics, SystemClock())
        relay = OutboxRelay(pool, producer, batch_size=rows)
        event = NotificationSubmitted(
            authority="CQC", submitted_at=dt.datetime.now(dt.UTC), submitted_by_role="RPA"
        )
        streams = [uuid.uuid4() for _ in range(200)]  # most emissions continue a known stream
        best_emit = best_relay = float("inf")
        for _ in range(rounds):
            await relay.publish_batch()  # start from an empty outbox
            started = time.process_time()
            for i in range(emits):
                async with pool.acquire() as conn, conn.transaction():
                    await emitter.emit(
                        conn, [event], stream_id=streams[i % len(streams)], tenant=TENANT, correlation_id="b"
                    )
            best_emit = min(best_emit, (time.process_time() - started) / emits)
            while await relay.publish_batch():  # leave exactly `rows` waiting
                pass
            for i in range(rows):
                async with pool.acquire() as conn, conn.transaction():
                    await emitter.emit(
                        conn, [event], stream_id=streams[i % len(streams)], tenant=TENANT, correlation_id="b"
                    )
            started = time.process_time()
            published = await relay.publish_batch()
            assert published == rows, published
            best_relay = min(best_relay, (time.process_time() - started) / rows)
        say(
            f"Emitter.emit, one event per transaction: {best_emit * 1e6:.0f} us CPU per event (best of {rounds})"
        )
        say(f"OutboxRelay.publish_batch of {rows}: {best_relay * 1e6:.0f} us CPU per row (best of {rounds})")
    finally:
        await producer.stop()
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emits", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    configure_logging("bench", "warning")
    infra = Infra.from_env()
    with scratch(infra, ["hotpath"]) as s:
        kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=s.prefix)
        asyncio.run(ensure_topics(kafka, kafka.topics.all()))
        asyncio.run(measure(s.database_urls["hotpath"], kafka, args.emits, args.rows, args.rounds))


if __name__ == "__main__":
    main()
