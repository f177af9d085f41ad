"""Group commit: inbound messages from every connection, stored in shared commits.

Each message's caller gets a future that completes only once its facts are committed (or with
the exception ``IntakeService.execute`` would have raised for it), so an ACK still follows its
commit. One writer stores the queue in arrival order: what arrived while the previous group was
being committed forms the next group (no timer: an idle listener commits a lone message at once,
a busy one commits dozens per round trip); of a long queue it takes half, so that the Python side
keeps reading and acknowledging while PostgreSQL commits. A single writer also keeps each
sender's order: a message is never stored before one that arrived earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

import asyncpg

from sievert_intake.domain.commands import RecordMessage
from sievert_intake.service_layer.intake import Accepted, IntakeService
from sievert_shared.db import Connection
from sievert_shared.logging import get_logger

log = get_logger(__name__)

_Item = tuple[RecordMessage, "asyncio.Future[Accepted]"]


class GroupCommitter:
    def __init__(
        self,
        service: IntakeService,
        pool: Callable[[], asyncpg.Pool],
        *,
        max_group: int = 64,
        min_split: int = 8,
        idle_release: float = 0.2,
    ) -> None:
        self._service = service
        self._pool = pool
        self._max_group = max_group
        self._min_split = min_split
        self._idle_release = idle_release
        self._queue: deque[_Item] = deque()
        self._arrived = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    def submit(self, command: RecordMessage) -> asyncio.Future[Accepted]:
        """Queue one message; the future completes after its commit. Call from the event loop."""
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_observed)  # a caller whose peer went away may never look
        self._queue.append((command, future))
        self._arrived.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return future

    async def aclose(self) -> None:
        """Store what is queued, then stop (the next ``submit`` starts a new writer)."""
        writer = self._writer
        if writer is None:
            return
        self._closing = True
        self._arrived.set()
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(writer), timeout=10)
            writer.cancel()
        finally:
            self._closing = False

    async def _write(self) -> None:
        try:
            while await self._write_on_one_connection():
                pass  # a group failed: start again on a fresh connection
        except BaseException as exc:
            # Not even a connection: everyone waiting hears it (and their senders resend).
            while self._queue:
                _, future = self._queue.popleft()
                if not future.done():
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                    else:
                        future.cancel()
            if not isinstance(exc, Exception):
                raise

    async def _write_on_one_connection(self) -> bool:
        """Keep one pooled connection while messages keep coming; give it back when idle (False)
        or when a group failed (True: the connection may be what failed)."""
        async with self._pool().acquire() as conn:
            while True:
                if not self._queue:
                    if self._closing:
                        return False
                    self._arrived.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._arrived.wait(), timeout=self._idle_release)
                    if not self._queue:
                        return False
                if not await self._commit_group(conn):
                    return True

    async def _commit_group(self, conn: Connection) -> bool:
        queued = len(self._queue)
        # Half of a long queue: the rest is read, mapped and acknowledged while this half commits.
        take = queued if queued <= self._min_split else max(self._min_split, (queued + 1) // 2)
        group = [self._queue.popleft() for _ in range(min(take, self._max_group))]
        waiting = [
            (command, future) for command, future in group if not future.done()
        ]  # a caller may have gone
        if not waiting:
            return True
        try:
            results: list[Accepted | Exception] = await self._service.execute_many(
                [command for command, _ in waiting], conn
            )
            ok = True
        except Exception as exc:
            log.warning("intake.group_commit_failed", messages=len(waiting), error=repr(exc))
            results, ok = [exc] * len(waiting), False
        for (_, future), result in zip(waiting, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        return ok


def _observed(future: asyncio.Future[Accepted]) -> None:
    if not future.cancelled():
        future.exception()
