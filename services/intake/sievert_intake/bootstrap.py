"""Wiring for the intake service, in one place."""

from __future__ import annotations

from fastapi import FastAPI

from sievert_intake.entrypoints.api import create_app
from sievert_intake.settings import IntakeSettings
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.runtime import ServiceRuntime


def build(
    settings: IntakeSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(
        name="intake",
        settings=settings,
        migrations_package="sievert_intake.migrations",
        clock=clock or SystemClock(),
    )
    return runtime, create_app(runtime, max_body_bytes=settings.max_body_bytes)
