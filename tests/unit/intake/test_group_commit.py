"""The group committer's one writer, over a stand-in pool whose connections are inert: every
command submitted is stored and answered, whenever it arrives relative to the writer's life.

The moment that matters is the writer going idle: it has found the queue empty and is giving its
connection back (a round trip to PostgreSQL for the reset). A command submitted then sees a
writer that is not yet done, so it starts none, and the writer, once its connection is back,
must still take it; otherwise that caller waits until some later command starts a new writer,
which for the last report of a quiet spell, or a sender that waits for each answer before it
sends the next, is for ever (an HTTP request or an MLLP ACK that never comes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import asyncpg

from sievert_intake.service_layer.group_commit import GroupCommitter


class GatedPool:
    """Hands out one inert connection; giving it back takes a moment (PostgreSQL's reset) and
    waits for ``returning`` to be opened, saying so on ``giving_back`` first."""

    def __init__(self) -> None:
        self.giving_back = asyncio.Event()
        self.returning = asyncio.Event()

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[object]:
        yield object()
        self.giving_back.set()
        await asyncio.sleep(0.0005)
        await self.returning.wait()


async def store_each(commands: Sequence[str], _traces: Sequence[str | None], _conn: Any) -> list[Any]:
    return [f"stored {command}" for command in commands]


async def test_a_command_submitted_while_the_idle_writer_gives_its_connection_back_is_stored() -> None:
    pool = GatedPool()
    pool.returning.clear()  # the connection, once the writer goes idle, stays on its way back
    committer: GroupCommitter[str] = GroupCommitter(
        store_each, lambda: cast(asyncpg.Pool, pool), idle_release=0.01
    )
    first: object = await asyncio.wait_for(committer.submit("first"), timeout=5)
    assert first == "stored first"
    await asyncio.wait_for(pool.giving_back.wait(), timeout=5)  # idle: giving the connection back

    second = committer.submit("second")
    pool.returning.set()
    answer: object = await asyncio.wait_for(second, timeout=5)
    assert answer == "stored second"
