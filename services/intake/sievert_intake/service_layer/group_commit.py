"""Group commit: inbound commands from every connection, stored in shared commits.

MLLP's messages (``IntakeService.execute_many``) and single ``POST /v1/incidents`` reports
(``IntakeService.execute_report_group``) each have one. Each command's caller gets a future that
completes only once its facts are committed (or with the exception ``IntakeService.execute``
would have raised for it), so an ACK or a 202 still follows its commit. One writer stores the queue in arrival order: what arrived while the previous group was
being committed forms the next group (no timer: an idle listener commits a lone message at once,
a busy one commits dozens per round trip); of a long queue it takes half, so that the Python side
keeps reading and acknowledging while PostgreSQL commits. A single writer also keeps each
sender's order: a message is never stored before one that arrived earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg
import structlog
from opentelemetry import context as otel_context

from sievert_intake.domain.commands import ReportIncident
from sievert_intake.service_layer.intake import Accepted, IntakeService, log_reported
from sievert_shared.db import Connection
from sievert_shared.logging import get_logger
from sievert_shared.tracing import current_traceparent

log = get_logger(__name__)

C = TypeVar("C")

#: Stores a group on a connection: each command's result in order (an ``Accepted`` or the
#: exception ``execute`` would raise for it), given each command's ``traceparent``.
StoreGroup = Callable[
    [Sequence[C], Sequence["str | None"], Connection], Awaitable[list[Accepted | Exception]]
]


class GroupCommitter(Generic[C]):
    def __init__(
        self,
        store: StoreGroup[C],
        pool: Callable[[], asyncpg.Pool],
        *,
        max_group: int = 64,
        min_split: int = 8,
        idle_release: float = 0.2,
    ) -> None:
        self._store = store
        self._pool = pool
        self._max_group = max_group
        self._min_split = min_split
        self._idle_release = idle_release
        self._queue: deque[tuple[C, str | None, asyncio.Future[Accepted]]] = deque()
        self._arrived = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    def submit(self, command: C) -> asyncio.Future[Accepted]:
        """Queue one command; the future completes after its commit. Call from the event loop."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run one per test): nothing of the old one carries over
            self._loop, self._queue, self._arrived, self._writer = loop, deque(), asyncio.Event(), None
        future: asyncio.Future[Accepted] = loop.create_future()
        future.add_done_callback(_observed)  # a caller whose peer went away may never look
        # The caller's span, for its outbox row: the writer runs outside every caller's context.
        self._queue.append((command, current_traceparent(), future))
        self._arrived.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), context=_detached_context())
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
            # Again after a failed group (on a fresh connection: the old one may be what failed),
            # and again if commands came while the idle connection was being given back: their
            # ``submit`` saw this writer still running and started none. Between this check of
            # the queue and the task being done there is no await, so nothing can slip between.
            while await self._write_on_one_connection() or self._queue:
                pass
        except BaseException as exc:
            # Not even a connection: everyone waiting hears it (and their senders resend).
            while self._queue:
                _, _, future = self._queue.popleft()
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
        waiting = [item for item in group if not item[2].done()]  # a caller may have gone
        if not waiting:
            return True
        try:
            results: list[Accepted | Exception] = await self._store(
                [command for command, _, _ in waiting], [trace for _, trace, _ in waiting], conn
            )
            ok = True
        except Exception as exc:
            log.warning("intake.group_commit_failed", messages=len(waiting), error=repr(exc))
            results, ok = [exc] * len(waiting), False
        for (_, _, future), result in zip(waiting, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        return ok


def _detached_context() -> contextvars.Context:
    """The caller's context without what belongs to its request (correlation id, span): the
    writer stores many callers' commands and logs as none of them."""
    context = contextvars.copy_context()
    context.run(_leave_request)
    return context


def _leave_request() -> None:
    structlog.contextvars.unbind_contextvars("correlation_id")
    otel_context.attach(otel_context.Context())


def _observed(future: asyncio.Future[Accepted]) -> None:
    if not future.cancelled():
        future.exception()


class ReportCommitter:
    """Single ``POST /v1/incidents`` reports, stored in shared commits: each request waits for
    its own answer, exactly what ``IntakeService.execute`` would give it alone."""

    def __init__(self, service: IntakeService, pool: Callable[[], asyncpg.Pool]) -> None:
        self._group: GroupCommitter[ReportIncident] = GroupCommitter(service.execute_report_group, pool)

    async def execute(self, command: ReportIncident) -> Accepted:
        accepted = await self._group.submit(command)
        log_reported(command, accepted)  # here, where the request's correlation id is bound
        return accepted

    async def aclose(self) -> None:
        await self._group.aclose()
