"""Wiring for the deadlines service, in one place."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from sievert_deadlines.entrypoints.api import create_app
from sievert_deadlines.service import DeadlinesService
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.events import (
    IncidentClassified,
    IncidentReclassified,
    InvestigationReportSubmitted,
    NotificationSubmitted,
)
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
    service = DeadlinesService(runtime)
    handlers = {
        IncidentClassified.event_type: service.on_classification,
        IncidentReclassified.event_type: service.on_classification,
        NotificationSubmitted.event_type: service.on_submission,
        InvestigationReportSubmitted.event_type: service.on_submission,
    }
    runtime.consumers.append(
        ConsumerSpec(
            name="windows",
            topics=lambda s: [s.kafka.topics.classifications, s.kafka.topics.submissions],
            handlers=lambda _runtime: handlers,
        )
    )

    async def run_timers(stop: asyncio.Event) -> None:
        await service.run_timers(
            stop, poll_seconds=settings.timer_poll_seconds, batch_size=settings.timer_batch_size
        )

    runtime.loops.append(LoopSpec("timers", lambda _runtime: run_timers))
    return runtime, create_app(runtime, service), service
