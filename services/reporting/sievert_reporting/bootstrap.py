"""Wiring for the reporting service, in one place: the runtime with the projection consumer, the
services over it, and the HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from sievert_reporting.entrypoints.app import create_app
from sievert_reporting.entrypoints.consumers import (
    PROJECTION,
    PROJECTION_CONSUMER,
    live_handlers,
    processed_key,
    projected_topics,
)
from sievert_reporting.service_layer.cases import CaseService
from sievert_reporting.service_layer.own_events import OwnEvents
from sievert_reporting.service_layer.submissions import ReportingService
from sievert_reporting.service_layer.themes import ThemeService
from sievert_reporting.settings import ReportingSettings
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.metrics import DocumentMetrics
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
    # Commands apply their own events with the bare projection (what a replay applies), and
    # announce on their own what dashboards must hear.
    own_events = OwnEvents(runtime, PROJECTION, consumer=processed_key(runtime.name))
    DocumentMetrics.of(runtime.metrics)  # on /metrics from the start
    return runtime, create_app(
        runtime, ReportingService(own_events), ThemeService(own_events), CaseService(own_events)
    )
