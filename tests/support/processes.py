"""What a test needs to run the services as processes: a free port each, and a throwaway
database per service (the e2e and browser tiers both start the whole set)."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg

from sievert_shared.testing import devstack
from tests.conftest import database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def service_databases(admin_url: str, tier: str) -> AsyncIterator[dict[str, str]]:
    """A fresh database for each service, named ``<tier>_<service>_<random>``, dropped after."""
    names = {s: f"{tier}_{s}_{uuid.uuid4().hex[:8]}" for s in devstack.SERVICES}
    admin = await asyncpg.connect(admin_url)
    try:
        for name in names.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield {s: database_url(admin_url, n) for s, n in names.items()}
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            for name in names.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
