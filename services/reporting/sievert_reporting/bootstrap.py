"""Wiring for the reporting service, in one place."""

from __future__ import annotations

from fastapi import FastAPI

from sievert_reporting.dashboard import live_handlers
from sievert_reporting.entrypoints.api import create_app
from sievert_reporting.projection import PROJECTION_CONSUMER, projected_topics
from sievert_reporting.service import ReportingService
from sievert_reporting.settings import ReportingSettings
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.runtime import ConsumerSpec, ServiceRuntime


def build(
    settings: ReportingSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ReportingSettings()
    runtime = ServiceRuntime(
        name="reporting",
        settings=settings,
        migrations_package="sievert_reporting.migrations",
        clock=clock or SystemClock(),
        consumers=[
            ConsumerSpec(
                name=PROJECTION_CONSUMER,
                topics=lambda s: projected_topics(s.kafka.topics),
                handlers=live_handlers,
            )
        ],
    )
    return runtime, create_app(runtime, ReportingService(runtime))
