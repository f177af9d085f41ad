"""The life of a service process: database, migrations, Kafka clients, relay and consumers.

A service's bootstrap builds a ``ServiceRuntime`` and hands its ``lifespan`` to FastAPI, so
nothing connects at import time and everything is stopped in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI

from sievert_shared.clock import Clock, SystemClock
from sievert_shared.consumer import Handler, IdempotentConsumer
from sievert_shared.db import create_pool, migrate, ping
from sievert_shared.health import Check, health_router
from sievert_shared.http import install_http_conventions
from sievert_shared.input_guard import guard_input
from sievert_shared.kafka import ensure_topics, kafka_ready, new_producer
from sievert_shared.logging import get_logger
from sievert_shared.metrics import ServiceMetrics, install_metrics
from sievert_shared.openapi_answers import document_answers
from sievert_shared.outbox import Emitter, OutboxRelay, waiting_rows
from sievert_shared.settings import ServiceSettings
from sievert_shared.tracing import HttpTracing
from sievert_shared.unavailable import unavailable_dependency

log = get_logger(__name__)


async def _with_retries(
    what: str, attempt: Callable[[], Awaitable[None]], *, give_up_after: float = 60
) -> None:
    """Start even if a dependency comes up a little after us (a restart of the stack, a rollout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    delay = 0.25
    while True:
        try:
            await attempt()
            return
        except (OSError, KafkaError) as exc:
            if loop.time() + delay > deadline:
                raise
            log.warning("service.dependency_unavailable", dependency=what, error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


@dataclass
class ConsumerSpec:
    """One idempotent consumer of the service: its name (and so its consumer group), the topics
    it reads and its handlers, built when the runtime starts so they can reach its emitter.
    Services register the handlers with ``sievert_shared.handlers.EventHandlers``, which is the
    mapping from event type to handler that the consumer reads."""

    name: str
    topics: Callable[[ServiceSettings], list[str]]
    handlers: Callable[[ServiceRuntime], Mapping[str, Handler]]


Loop = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class LoopSpec:
    """A background loop the service runs until it stops, e.g. the deadline timer wheel."""

    name: str
    build: Callable[[ServiceRuntime], Loop]


@dataclass
class ServiceRuntime:
    name: str
    settings: ServiceSettings
    migrations_package: str
    consumers: list[ConsumerSpec] = field(default_factory=list)
    loops: list[LoopSpec] = field(default_factory=list)
    clock: Clock = field(default_factory=SystemClock)
    relay: bool = True
    _pool: asyncpg.Pool | None = None
    _producer: AIOKafkaProducer | None = None
    running_consumers: list[IdempotentConsumer] = field(default_factory=list)
    outbox_relay: OutboxRelay | None = None
    metrics: ServiceMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = ServiceMetrics(self.name)
        self.metrics.on_scrape("readiness", lambda: self.metrics.readiness(self.readiness_checks().items()))
        self.metrics.on_scrape("outbox", self._outbox_gauges)

    async def _outbox_gauges(self) -> None:
        if self._pool is not None:
            waiting, oldest_age = await waiting_rows(self._pool)
            self.metrics.outbox_waiting.set(waiting)
            self.metrics.outbox_oldest_age.set(oldest_age)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._pool

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._producer

    @property
    def emitter(self) -> Emitter:
        return Emitter(self.name, self.settings.kafka.topics, self.clock)

    def readiness_checks(self) -> Mapping[str, Check]:
        if self._pool is None or self._producer is None:
            return {}
        pool, producer = self._pool, self._producer
        checks: dict[str, Check] = {"postgres": lambda: ping(pool), "kafka": lambda: kafka_ready(producer)}
        max_lag = self.settings.ready_max_consumer_lag
        for consumer in self.running_consumers:
            # ready to take traffic once the group has given it its partitions and it has caught up
            checks[f"consumer {consumer.name}"] = functools.partial(consumer.readiness, max_lag)
        return checks

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI | None = None) -> AsyncIterator[None]:
        settings = self.settings
        pool = await create_pool(
            settings.database_url.get_secret_value(),
            max_size=settings.database_pool_max,
            acquire_timeout=settings.database_acquire_timeout_seconds,
        )
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        producer: AIOKafkaProducer | None = None
        try:
            applied = await migrate(pool, self.migrations_package)
            log.info("service.migrated", applied=applied)
            await _with_retries("kafka", lambda: ensure_topics(settings.kafka, settings.kafka.topics.all()))
            producer = new_producer(settings.kafka, client_id=self.name)
            await _with_retries("kafka", producer.start)
            self._pool, self._producer = pool, producer
            if self.relay:
                self.outbox_relay = OutboxRelay(
                    pool,
                    producer,
                    metrics=self.metrics,
                    keep_published=dt.timedelta(hours=settings.outbox_keep_published_hours),
                )
                tasks.append(
                    asyncio.create_task(
                        self._supervise("outbox-relay", self.outbox_relay.run, stop), name="outbox-relay"
                    )
                )
            for spec in self.consumers:
                consumer = IdempotentConsumer(
                    f"{self.name}.{spec.name}",
                    pool=pool,
                    kafka=settings.kafka,
                    topics=spec.topics(settings),
                    handlers=spec.handlers(self),
                    dead_letter_producer=producer,
                    metrics=self.metrics,
                )
                self.running_consumers.append(consumer)
                tasks.append(
                    asyncio.create_task(
                        self._supervise(consumer.name, consumer.run, stop), name=consumer.name
                    )
                )
            for loop in self.loops:
                tasks.append(
                    asyncio.create_task(self._supervise(loop.name, loop.build(self), stop), name=loop.name)
                )
            log.info("service.started", http_port=settings.http_port)
            yield
        finally:
            await self._stop(stop, tasks, producer, pool)
            self._pool = self._producer = None
            log.info("service.stopped")

    async def _stop(
        self,
        stop: asyncio.Event,
        tasks: list[asyncio.Task[None]],
        producer: AIOKafkaProducer | None,
        pool: asyncpg.Pool,
    ) -> None:
        """Stop within half of ``shutdown_seconds`` whatever hangs (uvicorn gives the requests in
        flight the other half first, ``sievert_shared.serve``). Each step that can wait on another
        party (a consumer's last commit, the producer's flush, a connection still borrowed by a
        request stuck on a lock) gets part of what is left and is then cut off: without a bound,
        ``Pool.close`` waits for every borrowed connection for ever, and the process only ends
        when the orchestrator kills it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_seconds / 2

        def left(share: float = 1.0) -> float:
            return max(0.1, (deadline - loop.time()) * share)

        stop.set()
        if tasks:
            _finished, running = await asyncio.wait(tasks, timeout=left(0.5))
            if running:
                log.warning("service.stop_cancelled", loops=sorted(t.get_name() for t in running))
            for task in running:
                task.cancel()
            # Let the cancelled loops run their clean-up before the pool closes under them.
            if running:
                _finished, stuck = await asyncio.wait(running, timeout=left(0.5))
                if stuck:
                    log.warning("service.stop_abandoned", loops=sorted(t.get_name() for t in stuck))
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=left(0.5))
            except TimeoutError:
                log.warning("service.stop_abandoned", kafka_producer=True)
        in_use = pool.get_size() - pool.get_idle_size()
        try:
            await asyncio.wait_for(pool.close(), timeout=left())
        except TimeoutError:
            log.warning("service.stop_abandoned", database_connections_in_use=in_use)
            pool.terminate()

    async def _supervise(self, what: str, run: Loop, stop: asyncio.Event) -> None:
        """Keep a background loop alive through transient failures, with capped backoff."""
        delay = 0.5
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            try:
                await run(stop)
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if loop.time() - started > 30:
                    delay = 0.5  # it ran a good while: a new failure, not the same one again
                if unavailable_dependency(exc) is not None:
                    log.warning(
                        "service.loop_failed", loop=what, retry_in=delay, error=f"{type(exc).__name__}: {exc}"
                    )
                else:
                    log.exception("service.loop_failed", loop=what, retry_in=delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 10.0)


class RuntimeBound:
    """A service-layer object built with the runtime, before it starts: it reaches the pool, the
    outbox emitter and the clock through the runtime each time it is called."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._runtime.pool

    @property
    def _emitter(self) -> Emitter:
        return self._runtime.emitter

    @property
    def _clock(self) -> Clock:
        return self._runtime.clock


def service_app(runtime: ServiceRuntime, *, description: str) -> FastAPI:
    """A service's FastAPI app with what every service has: its lifespan, the runtime on
    ``app.state``, correlation ids, problem details, and ``/healthz`` and ``/readyz``."""
    app = FastAPI(
        title=f"Sievert {runtime.name}", version="1", description=description, lifespan=runtime.lifespan
    )
    app.state.runtime = runtime
    guard_input(app, runtime.settings)  # inside the correlation middleware: refusals carry the id
    install_http_conventions(app)
    install_metrics(app, runtime.metrics)
    app.add_middleware(HttpTracing, service=runtime.name)
    document_answers(app)
    app.include_router(health_router(runtime.readiness_checks))
    return app
