"""The deadlines service's composition root: settings, runtime, application service, consumer
handlers, the timer loop and the HTTP app, wired once. Nothing connects here; the runtime's
lifespan does, when the app starts."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from sievert_deadlines.entrypoints.app import create_app
from sievert_deadlines.entrypoints.consumers import consumer_handlers
from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.service_layer.tasks import TasksService
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.auth import Authenticator
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.metrics import TimerMetrics
from sievert_shared.runtime import ConsumerSpec, LoopSpec, ServiceRuntime


def build(
    settings: DeadlinesSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI, DeadlinesService]:
    settings = settings or DeadlinesSettings()
    runtime = ServiceRuntime(
        name="deadlines",
        settings=settings,
        migrations_package="sievert_deadlines.migrations",
        clock=clock or SystemClock(),
    )
    tasks = TasksService(runtime)
    service = DeadlinesService(runtime, observers=[tasks.on_window_events])
    runtime.consumers.append(
        ConsumerSpec(
            name="windows",
            topics=lambda s: [
                s.kafka.topics.classifications,
                s.kafka.topics.submissions,
                s.kafka.topics.cases,
                s.kafka.topics.incidents,
            ],
            handlers=lambda _runtime: consumer_handlers(service, tasks, batched=True),
        )
    )

    async def run_timers(stop: asyncio.Event) -> None:
        await service.run_timers(
            stop,
            poll_seconds=settings.timer_poll_seconds,
            batch_size=settings.timer_batch_size,
            concurrency=settings.timer_concurrency,
            also_fire=[tasks.fire_due],
        )

    runtime.loops.append(LoopSpec("timers", lambda _runtime: run_timers))
    TimerMetrics.of(runtime.metrics)  # on /metrics from the start, before any timer fires
    runtime.metrics.on_scrape("timers", service.timer_gauges)
    # AUTH_* settings, shared by every service.
    authenticator = Authenticator.from_settings(None, environment=settings.environment)
    return runtime, create_app(runtime, service, authenticator, tasks), service
