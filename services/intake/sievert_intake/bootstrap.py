"""Wiring for the intake service, in one place."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from sievert_intake.adapters.identity_vault import IdentifierVault, KeyRing, LocalKek
from sievert_intake.domain.hl7_mapping import Facility
from sievert_intake.domain.identity import PatientIdentifiers
from sievert_intake.entrypoints.api import create_app
from sievert_intake.entrypoints.mllp import Hl7Handler, MllpLimits, MllpListener
from sievert_intake.group_commit import GroupCommitter
from sievert_intake.service import IntakeService
from sievert_intake.settings import IntakeSettings
from sievert_shared.auth import Authenticator, Principal
from sievert_shared.clock import Clock, SystemClock
from sievert_shared.runtime import LoopSpec, ServiceRuntime


def facilities(settings: IntakeSettings) -> dict[str, Facility]:
    return {
        key: Facility(trust=value.trust, site=value.site, nation=value.nation)
        for key, value in settings.facilities.items()
    }


def authenticator(settings: IntakeSettings) -> Authenticator:
    return Authenticator(settings.auth, environment=settings.environment)


def kek(settings: IntakeSettings) -> KeyRing:
    """The current KEK and, during a rotation, the previous one (``sievert rotate-kek``)."""
    previous = settings.identifier_kek_previous
    return KeyRing(
        LocalKek(settings.identifier_kek.get_secret_value()),
        *([LocalKek(previous.get_secret_value())] if previous is not None else []),
    )


class _VaultOnRuntime:
    """The identifier vault over the runtime's pool, which exists only once the runtime started.
    The keys are read from settings once, not per message."""

    def __init__(self, runtime: ServiceRuntime, settings: IntakeSettings) -> None:
        self._runtime = runtime
        self._kek = kek(settings)
        self._pseudonym_key = settings.pseudonym_key.get_secret_value().encode()

    def vault(self) -> IdentifierVault:
        return IdentifierVault(self._runtime.pool, self._kek, self._pseudonym_key)

    async def demographics_updated(
        self, trust: str, identifiers: PatientIdentifiers, actor: str, correlation_id: str
    ) -> int:
        """``IdentityPort`` for the MLLP handler's ADT messages."""
        return await self.vault().demographics_updated(trust, identifiers, actor, correlation_id)


def mllp_clients(settings: IntakeSettings, auth: Authenticator) -> Callable[[str], Principal | None] | None:
    """Sending facility -> its integration client; None (accept every facility) in development."""
    if auth.mode == "development" and not settings.mllp_clients:
        return None

    def client(facility: str) -> Principal | None:
        key_id = settings.mllp_clients.get(facility)
        return auth.client(key_id) if key_id else None

    return client


def mllp_listener(
    runtime: ServiceRuntime, settings: IntakeSettings, port: int, auth: Authenticator | None = None
) -> MllpListener:
    """The MLLP listener over the runtime's pool: IntakeService as HTTP, messages from every
    connection stored in shared commits (``GroupCommitter``)."""

    identity = _VaultOnRuntime(runtime, settings)

    def service() -> IntakeService:
        return IntakeService(runtime.pool, settings.kafka.topics, runtime.clock, identity.vault())

    committer = GroupCommitter(service, lambda: runtime.pool)
    handler = Hl7Handler(
        service,
        runtime.clock,
        identity,
        facilities(settings),
        committer,
        clients=mllp_clients(settings, auth or authenticator(settings)),
    )
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
    auth = authenticator(settings)
    app = create_app(
        runtime,
        max_body_bytes=settings.max_body_bytes,
        facilities=facilities(settings),
        authenticator=auth,
        kek=kek(settings),
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
    )
    if settings.mllp_port is not None:
        listener = mllp_listener(runtime, settings, settings.mllp_port, auth)
        runtime.loops.append(LoopSpec("mllp", lambda _runtime: listener.run))
        app.state.mllp = listener  # tests and the bench read the bound port from here
    return runtime, app
