"""A service stops within its ``shutdown_seconds`` whatever is still running, against the real
PostgreSQL and Kafka: a connection still borrowed by a statement that will not end, and a
background loop that ignores its stop. Unbounded, the first alone keeps ``Pool.close`` waiting
for ever, and the process ends only when the orchestrator kills it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from sievert_classifier.settings import ClassifierSettings
from sievert_shared.runtime import LoopSpec, ServiceRuntime
from sievert_shared.settings import KafkaSettings
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

SHUTDOWN_SECONDS = 3.0


async def deaf_to_stop(_stop: asyncio.Event) -> None:
    """A loop that never looks at its stop event (as a loop parked on a lost wake-up would)."""
    await asyncio.sleep(3600)


def classifier_runtime(
    infra: Infra, topic_prefix: str, database_url: str, loops: list[LoopSpec], **settings: Any
) -> ServiceRuntime:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    return ServiceRuntime(
        name="classifier",
        settings=ClassifierSettings(database_url=database_url, kafka=kafka, environment="test", **settings),
        migrations_package="sievert_classifier.migrations",
        loops=loops,
    )


async def test_a_service_stops_within_its_limit_with_a_connection_still_borrowed_and_a_deaf_loop(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    runtime = classifier_runtime(
        infra,
        topic_prefix,
        await make_database("stop"),
        [LoopSpec("deaf", lambda _runtime: deaf_to_stop)],
        shutdown_seconds=SHUTDOWN_SECONDS,
    )
    borrowed = asyncio.Event()

    async def stuck_request() -> None:
        async with runtime.pool.acquire() as conn:
            borrowed.set()
            await conn.execute("SELECT pg_sleep(3600)")

    with capture_logs() as logs:
        async with runtime.lifespan():
            request = asyncio.create_task(stuck_request())
            await asyncio.wait_for(borrowed.wait(), timeout=10)
            started = time.monotonic()
        took = time.monotonic() - started

    assert took < SHUTDOWN_SECONDS / 2 + 1, took  # uvicorn's half, for requests, is not in a lifespan
    # The stuck request hears that its connection is gone (PostgreSQL rolls its transaction back
    # once the statement ends and finds no client: here, when the test drops the database).
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError)):
        await asyncio.wait_for(request, timeout=5)
    said = [(e["event"], {k: v for k, v in e.items() if k not in ("event", "log_level")}) for e in logs]
    assert ("service.stop_cancelled", {"loops": ["deaf"]}) in said, said
    assert ("service.stop_abandoned", {"database_connections_in_use": 1}) in said, said
    assert logs[-1]["event"] == "service.stopped"


async def test_a_service_with_nothing_left_running_stops_at_once_and_cleanly(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    runtime = classifier_runtime(infra, topic_prefix, await make_database("stop_clean"), [])
    with capture_logs() as logs:
        async with runtime.lifespan():
            async with runtime.pool.acquire() as conn:
                assert await conn.fetchval("SELECT 1") == 1
            started = time.monotonic()
        took = time.monotonic() - started
    assert took < 2, took
    assert not [e for e in logs if e["event"].startswith("service.stop_")], logs
