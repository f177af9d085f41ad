"""Wiring for the intake service, in one place."""

from __future__ import annotations

from fastapi import FastAPI

from sievert_intake.domain.hl7_mapping import Facility
from sievert_intake.domain.identity import DiscardingIdentity
from sievert_intake.entrypoints.api import create_app
from sievert_intake.entrypoints.mllp import Hl7Handler, MllpLimits, MllpListener
from sievert_intake.group_commit import GroupCommitter
from sievert_intake.service import IntakeService
from sievert_intake.settings import IntakeSettings
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.runtime import LoopSpec, ServiceRuntime


def facilities(settings: IntakeSettings) -> dict[str, Facility]:
    return {
        key: Facility(trust=value.trust, site=value.site, nation=value.nation)
        for key, value in settings.facilities.items()
    }


def mllp_listener(runtime: ServiceRuntime, settings: IntakeSettings, port: int) -> MllpListener:
    """The MLLP listener over the runtime's pool: IntakeService as HTTP, messages from every
    connection stored in shared commits (``GroupCommitter``)."""

    def service() -> IntakeService:
        return IntakeService(runtime.pool, settings.kafka.topics, runtime.clock)

    committer = GroupCommitter(service, lambda: runtime.pool)
    handler = Hl7Handler(service, runtime.clock, DiscardingIdentity(), facilities(settings), committer)
    return MllpListener(
        handler.begin,
        handler.reject,
        on_stop=committer.aclose,
        host=settings.mllp_host,
        port=port,
        limits=MllpLimits(
            max_message_bytes=settings.mllp_max_message_bytes,
            idle_timeout=settings.mllp_idle_timeout_seconds,
            frame_timeout=settings.mllp_frame_timeout_seconds,
        ),
    )


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
    app = create_app(runtime, max_body_bytes=settings.max_body_bytes, facilities=facilities(settings))
    if settings.mllp_port is not None:
        listener = mllp_listener(runtime, settings, settings.mllp_port)
        runtime.loops.append(LoopSpec("mllp", lambda _runtime: listener.run))
        app.state.mllp = listener  # tests and the bench read the bound port from here
    return runtime, app
