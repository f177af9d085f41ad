"""Fixtures for integration and e2e tests: real Kafka and PostgreSQL, isolated per test.

Each test gets its own topic prefix (so its own topics and consumer groups) and its own
throwaway databases, so tests never see each other's events or rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from sievert_shared.kafka import delete_topics_with_prefix
from sievert_shared.settings import KafkaSettings
from tests.support import watchdog
from tests.support.infra import Infra, provide_infra


def pytest_configure(config: pytest.Config) -> None:
    watchdog.install(config)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def topic_prefix(infra: Infra) -> AsyncIterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    await delete_topics_with_prefix(KafkaSettings(bootstrap_servers=infra.kafka_bootstrap), prefix)


@pytest.fixture
async def make_database(infra: Infra) -> AsyncIterator[Callable[[str], object]]:
    """Create throwaway databases named after the test; drop them afterwards."""
    created: list[str] = []
    admin = await asyncpg.connect(infra.admin_database_url)

    async def make(label: str) -> str:
        name = f"t_{label}_{uuid.uuid4().hex[:10]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return database_url(infra.admin_database_url, name)

    try:
        yield make
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
