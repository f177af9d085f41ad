"""Intake's composition root: settings in, the adapters, the one command path and the doors that
use it (HTTP app, MLLP listener) out, each built once. Nothing here connects: the adapters take
the runtime's pool when they first need it, after the runtime has started."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from fastapi import FastAPI

from sievert_intake.adapters.identity_vault import IdentifierVault, KeyRing, LocalKek
from sievert_intake.adapters.trust_admin import RegisteredClients, SiteOwners, TrustAdministration
from sievert_intake.domain.hl7_mapping import Facility
from sievert_intake.entrypoints.app import create_app
from sievert_intake.entrypoints.consumers import consumer_handlers
from sievert_intake.entrypoints.deps import BatchLimits, Components
from sievert_intake.entrypoints.hl7 import Hl7Handler
from sievert_intake.entrypoints.mllp_listener import MllpLimits, MllpListener
from sievert_intake.service_layer.dose_records import DoseRecordService
from sievert_intake.service_layer.group_commit import GroupCommitter, ReportCommitter
from sievert_intake.service_layer.intake import IntakeService
from sievert_intake.settings import IntakeSettings
from sievert_shared.auth import Authenticator, Principal
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.metrics import MllpMetrics
from sievert_shared.runtime import ConsumerSpec, LoopSpec, ServiceRuntime, service_app

MIGRATIONS = "sievert_intake.migrations"
DEFAULT_MLLP_PORT = 2575  # IANA's port for HL7 over MLLP


def build(
    settings: IntakeSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """The intake service: its runtime and HTTP app, and its MLLP listener when
    ``INTAKE_MLLP_PORT`` is set."""
    settings = settings or IntakeSettings()
    runtime = _runtime(settings, clock)
    auth = authenticator(settings)
    components = _components(runtime, settings)
    app = create_app(
        runtime,
        components,
        authenticator=auth,
        max_body_bytes=settings.max_body_bytes,
        body_limits=settings.body_limits,
    )
    # The end of a closed case's retention (deadlines) shreds the patient's identifiers.
    runtime.consumers.append(
        ConsumerSpec(
            name="retention",
            topics=lambda s: [s.kafka.topics.cases],
            handlers=lambda _runtime: consumer_handlers(),
        )
    )
    if settings.mllp_port is not None:
        listener = _mllp_listener(runtime, components, settings, settings.mllp_port, auth)
        runtime.loops.append(LoopSpec("mllp", lambda _runtime: listener.run))
        app.state.mllp = listener  # tests and the bench read the bound port from here
    return runtime, app


def build_mllp(settings: IntakeSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    """The MLLP listener as a process of its own (``entrypoints/mllp_main.py``). Its HTTP port
    (``INTAKE_HTTP_PORT``) serves only what operators and orchestrators need of every process:
    ``/healthz``, ``/readyz`` and ``/metrics``. The API stays with the intake service."""
    settings = settings or IntakeSettings()
    runtime = _runtime(settings, None)
    port = settings.mllp_port if settings.mllp_port is not None else DEFAULT_MLLP_PORT
    listener = _mllp_listener(
        runtime, _components(runtime, settings), settings, port, authenticator(settings)
    )
    runtime.loops.append(LoopSpec("mllp", lambda _runtime: listener.run))
    app = service_app(runtime, description="HL7 v2 over MLLP; this port: health, readiness, metrics.")
    app.state.mllp = listener
    return runtime, app


def kek(settings: IntakeSettings) -> KeyRing:
    """The current KEK and, during a rotation, the previous one (``sievert rotate-kek``)."""
    previous = settings.identifier_kek_previous
    return KeyRing(
        LocalKek(settings.identifier_kek.get_secret_value()),
        *([LocalKek(previous.get_secret_value())] if previous is not None else []),
    )


def authenticator(settings: IntakeSettings) -> Authenticator:
    return Authenticator(settings.auth, environment=settings.environment)


def _runtime(settings: IntakeSettings, clock: Clock | None) -> ServiceRuntime:
    return ServiceRuntime(
        name="intake", settings=settings, migrations_package=MIGRATIONS, clock=clock or SystemClock()
    )


def _components(runtime: ServiceRuntime, settings: IntakeSettings) -> Components:
    pool = _pool_of(runtime)
    vault = IdentifierVault(pool, kek(settings), settings.pseudonym_key.get_secret_value().encode())
    intake = IntakeService(pool, settings.kafka.topics, runtime.clock, vault)
    return Components(
        intake=intake,
        # Concurrent single reports share commits: a transaction's round trips cost intake more
        # CPU than the rest of the request (bench/README.md, Intake CPU).
        reports=ReportCommitter(intake, pool),
        vault=vault,
        administration=TrustAdministration(pool, runtime.clock),
        clients=RegisteredClients(pool),
        site_owners=SiteOwners(pool),
        facilities={
            key: Facility(trust=value.trust, site=value.site, nation=value.nation)
            for key, value in settings.facilities.items()
        },
        clock=runtime.clock,
        dose_records=DoseRecordService(pool, settings.kafka.topics, runtime.clock),
        batch=BatchLimits(max_lines=settings.batch_max_lines, chunk_lines=settings.batch_chunk_lines),
    )


def _pool_of(runtime: ServiceRuntime) -> Callable[[], asyncpg.Pool]:
    """The runtime's pool, which exists once the runtime has started."""
    return lambda: runtime.pool


def _mllp_listener(
    runtime: ServiceRuntime, components: Components, settings: IntakeSettings, port: int, auth: Authenticator
) -> MllpListener:
    """Messages from every connection stored in shared commits (``GroupCommitter``), through the
    same command path as HTTP."""
    committer = GroupCommitter(components.intake.execute_many, _pool_of(runtime))
    metrics = MllpMetrics.of(runtime.metrics)
    handler = Hl7Handler(
        committer,
        components.clock,
        components.vault,
        components.facilities,
        clients=_mllp_clients(settings, auth),
        metrics=metrics,
    )
    return MllpListener(
        handler.begin,
        handler.reject,
        on_stop=committer.aclose,
        metrics=metrics,
        host=settings.mllp_host,
        port=port,
        limits=MllpLimits(
            max_message_bytes=settings.mllp_max_message_bytes,
            idle_timeout=settings.mllp_idle_timeout_seconds,
            frame_timeout=settings.mllp_frame_timeout_seconds,
        ),
    )


def _mllp_clients(settings: IntakeSettings, auth: Authenticator) -> Callable[[str], Principal | None] | None:
    """Sending facility -> its integration client; None (accept every facility) in development."""
    if auth.mode == "development" and not settings.mllp_clients:
        return None

    def client(facility: str) -> Principal | None:
        key_id = settings.mllp_clients.get(facility)
        return auth.client(key_id) if key_id else None

    return client
