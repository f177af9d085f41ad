"""The classifier's composition root: settings, runtime, consumer handlers and HTTP app, wired
once. Nothing connects here; the runtime's lifespan does, when the app starts."""

from __future__ import annotations

from fastapi import FastAPI

from sievert_classifier.domain.dose_limits import DosePolicy
from sievert_classifier.entrypoints.app import create_app
from sievert_classifier.entrypoints.consumers import consumer_handlers
from sievert_classifier.entrypoints.doses import dose_handlers
from sievert_classifier.settings import ClassifierSettings
from sievert_shared.auth import Authenticator
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.runtime import ConsumerSpec, ServiceRuntime


def build(
    settings: ClassifierSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ClassifierSettings()
    dose_policy = DosePolicy(settings.dose_limit_jurisdictions, settings.dose_investigation_levels)
    runtime = ServiceRuntime(
        name="classifier",
        settings=settings,
        migrations_package="sievert_classifier.migrations",
        clock=clock or SystemClock(),
        consumers=[
            ConsumerSpec(
                name="incidents",
                # themes: reporting's ThemeIndividualsCounted, keyed by incident id (code M);
                # doses: intake's dose records, keyed by the person's dose history (annual totals)
                topics=lambda s: [s.kafka.topics.incidents, s.kafka.topics.themes, s.kafka.topics.doses],
                handlers=lambda runtime: consumer_handlers(runtime.emitter).extended(
                    dose_handlers(runtime.emitter, dose_policy)
                ),
            )
        ],
    )
    # AUTH_* settings, shared by every service.
    authenticator = Authenticator.from_settings(None, environment=settings.environment)
    return runtime, create_app(runtime, authenticator)
