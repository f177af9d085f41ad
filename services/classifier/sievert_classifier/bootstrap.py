"""Wiring for the classifier service, in one place."""

from __future__ import annotations

from fastapi import FastAPI

from sievert_classifier.entrypoints.api import create_app
from sievert_classifier.handlers import IncidentHandlers
from sievert_classifier.settings import ClassifierSettings
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.events import IncidentFactsAmended, IncidentReported, ThemeIndividualsCounted
from sievert_shared.runtime import ConsumerSpec, ServiceRuntime


def build(
    settings: ClassifierSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ClassifierSettings()

    def handlers(runtime: ServiceRuntime) -> dict[str, object]:
        incident = IncidentHandlers(runtime.emitter)
        return {
            IncidentReported.event_type: incident.on_incident_facts,
            IncidentFactsAmended.event_type: incident.on_incident_facts,
            ThemeIndividualsCounted.event_type: incident.on_theme_individuals,
        }

    runtime = ServiceRuntime(
        name="classifier",
        settings=settings,
        migrations_package="sievert_classifier.migrations",
        clock=clock or SystemClock(),
        consumers=[
            ConsumerSpec(
                name="incidents",
                # themes: reporting's ThemeIndividualsCounted, keyed by incident id (code M)
                topics=lambda s: [s.kafka.topics.incidents, s.kafka.topics.themes],
                handlers=handlers,  # type: ignore[arg-type]
            )
        ],
    )
    return runtime, create_app(runtime)
