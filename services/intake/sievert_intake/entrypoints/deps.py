"""What the HTTP routes depend on, as ``Annotated`` aliases for FastAPI's ``Depends``.

``bootstrap`` builds the ``Components`` once and ``create_app`` puts them on ``app.state``; every
route takes what it needs through the aliases below, never from ``app.state`` itself. The
providers are ``async`` although they do not wait: FastAPI runs a plain ``def`` dependency in a
worker thread, a hop per dependency per request that costs intake measurable CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from sievert_intake.adapters.identity_vault import IdentifierVault
from sievert_intake.adapters.trust_admin import RegisteredClients, SiteOwners, TrustAdministration
from sievert_intake.domain.commands import RequestContext
from sievert_intake.domain.hl7_mapping import Facility
from sievert_intake.domain.incident import parsed_hash, request_hash
from sievert_intake.service_layer.dose_records import DoseRecordService
from sievert_intake.service_layer.group_commit import ReportCommitter
from sievert_intake.service_layer.intake import IntakeService
from sievert_shared.auth import Principal, Role, require
from sievert_shared.clock import Clock


@dataclass(frozen=True)
class BatchLimits:
    """Bulk intake's limits (``IntakeSettings.batch_*``)."""

    max_lines: int = 100_000
    chunk_lines: int = 1000


@dataclass(frozen=True)
class Components:
    """Everything the routes use, built once by the composition root."""

    intake: IntakeService
    #: ``POST /v1/incidents``'s way to ``intake``: concurrent reports share commits.
    reports: ReportCommitter
    vault: IdentifierVault
    administration: TrustAdministration
    #: Engines' API keys made by a trust admin at run time (those in settings are the
    #: authenticator's); ``sievert_shared.auth`` finds them on ``app.state.client_directory``.
    clients: RegisteredClients
    site_owners: SiteOwners
    facilities: dict[str, Facility]
    clock: Clock
    dose_records: DoseRecordService
    batch: BatchLimits = BatchLimits()


async def _components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


ComponentsDep = Annotated[Components, Depends(_components)]


async def _intake(components: ComponentsDep) -> IntakeService:
    return components.intake


async def _reports(components: ComponentsDep) -> ReportCommitter:
    return components.reports


async def _vault(components: ComponentsDep) -> IdentifierVault:
    return components.vault


async def _administration(components: ComponentsDep) -> TrustAdministration:
    return components.administration


async def _clients(components: ComponentsDep) -> RegisteredClients:
    return components.clients


async def _site_owners(components: ComponentsDep) -> SiteOwners:
    return components.site_owners


async def _facilities(components: ComponentsDep) -> dict[str, Facility]:
    return components.facilities


async def _clock(components: ComponentsDep) -> Clock:
    return components.clock


async def _batch_limits(components: ComponentsDep) -> BatchLimits:
    return components.batch


async def _correlation_id(request: Request) -> str:
    correlation_id: str = request.state.correlation_id
    return correlation_id


IntakeDep = Annotated[IntakeService, Depends(_intake)]
ReportsDep = Annotated[ReportCommitter, Depends(_reports)]
VaultDep = Annotated[IdentifierVault, Depends(_vault)]
AdministrationDep = Annotated[TrustAdministration, Depends(_administration)]
ClientsDep = Annotated[RegisteredClients, Depends(_clients)]
SiteOwnersDep = Annotated[SiteOwners, Depends(_site_owners)]
FacilitiesDep = Annotated[dict[str, Facility], Depends(_facilities)]
ClockDep = Annotated[Clock, Depends(_clock)]
BatchLimitsDep = Annotated[BatchLimits, Depends(_batch_limits)]
CorrelationIdDep = Annotated[str, Depends(_correlation_id)]

# Who may do what. People report too: an RP lead may file an incident by hand.
Writer = Annotated[Principal, require(Role.INTEGRATION, Role.RP_LEAD)]
Reader = Annotated[Principal, require(Role.INTEGRATION, Role.RP_LEAD, Role.AUDITOR)]
AuditReader = Annotated[Principal, require(Role.AUDITOR, Role.RP_LEAD, Role.TRUST_ADMIN)]
IdentifierReader = Annotated[Principal, require(Role.RP_LEAD)]
Eraser = Annotated[Principal, require(Role.TRUST_ADMIN)]
TrustAdmin = Annotated[Principal, require(Role.TRUST_ADMIN)]
AdminReader = Annotated[Principal, require(Role.TRUST_ADMIN, Role.AUDITOR)]

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def scoped_idempotency_key(caller: Principal, key: str | None) -> str | None:
    """The caller's trust owns its Idempotency-Keys: the same key from another trust is another
    key, so that trust's stored answer (its incident id) never comes back to this one."""
    return None if key is None else f"key:{caller.trust}:{key}"


async def _context(
    request: Request, caller: Writer, correlation_id: CorrelationIdDep, idempotency_key: IdempotencyKey = None
) -> RequestContext:
    return RequestContext(
        correlation_id=correlation_id,
        actor=caller.subject,  # from the credentials, never from a header the caller chooses
        idempotency_key=scoped_idempotency_key(caller, idempotency_key),
        request_hash=await _request_hash(request),
    )


async def _undocumented_key_context(
    request: Request, caller: Writer, correlation_id: CorrelationIdDep
) -> RequestContext:
    """As ``_context``, for FHIR, whose interface does not list an Idempotency-Key header."""
    return RequestContext(
        correlation_id=correlation_id,
        actor=caller.subject,
        idempotency_key=scoped_idempotency_key(caller, request.headers.get("Idempotency-Key")),
        request_hash=await _request_hash(request),
    )


async def _request_hash(request: Request) -> str:
    """``request_hash`` of the body, from the value FastAPI already parsed for the route's body
    parameter (``Request.json`` keeps it): the body is not parsed a second time."""
    try:
        value = await request.json()
    except ValueError:
        return request_hash(await request.body())  # not JSON: the hash of its bytes
    return parsed_hash(value)


ContextDep = Annotated[RequestContext, Depends(_context)]
FhirContextDep = Annotated[RequestContext, Depends(_undocumented_key_context)]
