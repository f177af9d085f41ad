"""Intake's HTTP API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Request
from fastapi.responses import JSONResponse, Response

from sievert_intake.adapters.event_store import ConcurrencyError
from sievert_intake.adapters.identity_vault import IdentifierVault, KeyWrapper, LocalKek
from sievert_intake.adapters.trust_admin import RegisteredClients, SiteOwners
from sievert_intake.domain.hl7_mapping import Facility
from sievert_intake.domain.incident import Amendment, AmendmentInvalidError, IncidentReport, request_hash
from sievert_intake.entrypoints.fhir import fhir_router, scoped_idempotency_key
from sievert_intake.entrypoints.trust_admin import trust_admin_router
from sievert_intake.service import (
    Answer,
    DuplicateMessageConflictError,
    IdempotencyConflictError,
    IncidentNotFoundError,
    IntakeService,
    RequestContext,
)
from sievert_intake.settings import DEV_IDENTIFIER_KEK, DEV_PSEUDONYM_KEY
from sievert_shared.auth import Authenticator, Principal, Role, install_auth, require
from sievert_shared.http import BodySizeLimit, problem
from sievert_shared.runtime import ServiceRuntime, service_app

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]

# Who may do what (issue 8). People report too: an RP lead may file an incident by hand.
WRITERS = (Role.INTEGRATION, Role.RP_LEAD)
READERS = (Role.INTEGRATION, Role.RP_LEAD, Role.AUDITOR)
AUDIT_READERS = (Role.AUDITOR, Role.RP_LEAD, Role.TRUST_ADMIN)

Writer = Annotated[Principal, require(*WRITERS)]
Reader = Annotated[Principal, require(*READERS)]
AuditReader = Annotated[Principal, require(*AUDIT_READERS)]
IdentifierReader = Annotated[Principal, require(Role.RP_LEAD)]
Eraser = Annotated[Principal, require(Role.TRUST_ADMIN)]


def _service(request: Request) -> IntakeService:
    runtime: ServiceRuntime = request.app.state.runtime
    return IntakeService(runtime.pool, runtime.settings.kafka.topics, runtime.clock, _vault(request))


def _vault(request: Request) -> IdentifierVault:
    runtime: ServiceRuntime = request.app.state.runtime
    return IdentifierVault(runtime.pool, request.app.state.kek, request.app.state.pseudonym_key)


async def _context(
    request: Request, caller: Writer, idempotency_key: IdempotencyKey = None
) -> RequestContext:
    return RequestContext(
        correlation_id=request.state.correlation_id,
        actor=caller.subject,  # from the credentials, never from a header the caller chooses
        idempotency_key=scoped_idempotency_key(caller, idempotency_key),
        request_hash=request_hash(await request.body()),
    )


# FastAPI resolves these by name, so they live at module level.
Service = Annotated[IntakeService, Depends(_service)]
Vault = Annotated[IdentifierVault, Depends(_vault)]
Context = Annotated[RequestContext, Depends(_context)]


def _not_found(incident_id: object) -> JSONResponse:
    return problem(404, "Not found", f"no incident {incident_id}")


def create_app(
    runtime: ServiceRuntime,
    *,
    max_body_bytes: int,
    facilities: dict[str, Facility] | None = None,
    authenticator: Authenticator | None = None,
    kek: KeyWrapper | None = None,
    pseudonym_key: bytes | None = None,
) -> FastAPI:
    app = service_app(
        runtime, description="Receives IR(ME)R incident facts from hospital integration engines."
    )
    install_auth(
        app, authenticator or Authenticator.from_settings(None, environment=runtime.settings.environment)
    )
    # Engines' API keys: the ones in settings, and the ones a trust admin made at run time.
    app.state.client_directory = RegisteredClients(lambda: runtime.pool)
    app.state.site_owners = SiteOwners(lambda: runtime.pool)
    app.include_router(trust_admin_router())
    app.state.kek = kek or LocalKek(DEV_IDENTIFIER_KEK)
    app.state.pseudonym_key = pseudonym_key or DEV_PSEUDONYM_KEY.encode()

    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)  # outermost: refuse before parsing

    router = APIRouter(prefix="/v1")

    @router.post("/incidents", status_code=202, responses={409: {}, 422: {}})
    async def report_incident(
        report: IncidentReport, svc: Service, ctx: Context, request: Request
    ) -> JSONResponse:
        """Record a new incident and publish ``IncidentReported``. An optional ``patient`` object
        is split off here: encrypted in the identifier store in the event's transaction, never in
        the facts or the log, which carry only its pseudonym (also in the answer). Without
        ``facts.patient_age_years``, ``patient.birth_date`` gives the age at the exposure."""
        caller: Principal = request.state.principal
        if not caller.may_post_for(report.trust, report.site):
            return _not_yours(report.trust, report.site)
        if await request.app.state.site_owners.of_another_trust(report.trust, report.site):
            return _site_of_another_trust(report.site)
        try:
            return _accepted(await svc.report(report, ctx))
        except IdempotencyConflictError:
            return _key_reused()
        except DuplicateMessageConflictError as exc:
            return problem(
                409,
                "Source message reused",
                f"source_message_id {exc.source_message_id} already reported incident {exc.incident_id} "
                "with other facts; nothing was stored",
                incident_id=exc.incident_id,
            )

    @router.post(
        "/incidents/{incident_id}/amendments", status_code=202, responses={404: {}, 409: {}, 422: {}}
    )
    async def amend_incident(
        incident_id: uuid.UUID, amendment: Amendment, svc: Service, ctx: Context, request: Request
    ) -> JSONResponse:
        """Record corrected facts and publish ``IncidentFactsAmended``."""
        caller: Principal = request.state.principal
        try:
            # An incident's tenant never changes, so checking it before amending is not a race.
            latest, _facts = await svc.current(incident_id)
            if not caller.may_post_for(latest.tenant.trust, latest.tenant.site):
                return _not_found(incident_id)  # another trust's incident does not exist for you
            return _accepted(await svc.amend(incident_id, amendment, ctx))
        except IncidentNotFoundError:
            return problem(404, "Not found", f"no incident {incident_id}")
        except ConcurrencyError as exc:
            return problem(
                409,
                "Version conflict",
                f"the incident is at version {exc.actual}; re-read it and send expected_version={exc.actual}",
                current_version=exc.actual,
            )
        except AmendmentInvalidError as exc:
            return problem(
                422,
                "Invalid request",
                "the corrected facts are invalid; nothing was stored",
                errors=exc.errors,
            )
        except IdempotencyConflictError:
            return _key_reused()

    @router.get("/incidents/{incident_id}", responses={404: {}})
    async def get_incident(
        incident_id: uuid.UUID, svc: Service, vault: Vault, caller: Reader
    ) -> JSONResponse:
        """The current facts and the full event history of one incident."""
        try:
            found = await svc.get(incident_id)
        except IncidentNotFoundError:
            return _not_found(incident_id)
        if not caller.sees(found["trust"]):
            return _not_found(incident_id)
        found["patient_pseudonym"] = await vault.pseudonym_of(incident_id)
        return JSONResponse(found)

    @router.get("/incidents/{incident_id}/audit", responses={404: {}})
    async def audit_trail(
        incident_id: uuid.UUID, svc: Service, vault: Vault, caller: AuditReader
    ) -> JSONResponse:
        """Who did what and when: every event of the incident (from the append-only event
        store) and every read or erasure of its patient identifiers (append-only too)."""
        try:
            found = await svc.get(incident_id)
        except IncidentNotFoundError:
            return _not_found(incident_id)
        if not caller.sees(found["trust"]):
            return _not_found(incident_id)
        entries = [
            {
                "at": h["recorded_at"],
                "actor": h["actor"],
                "action": h["event_type"],
                "stream_version": h["stream_version"],
                "event_id": h["event_id"],
                "correlation_id": h["correlation_id"],
            }
            for h in found["history"]
        ]
        for access in await vault.access_log(incident_id):
            entries.append(
                {
                    "at": access["at"].isoformat(),
                    "actor": access["actor"],
                    "action": access["action"],
                    "correlation_id": access["correlation_id"],
                }
            )
        entries.sort(key=lambda e: str(e["at"]))
        return JSONResponse({"incident_id": str(incident_id), "trust": found["trust"], "entries": entries})

    @router.get("/incidents/{incident_id}/patient", responses={404: {}})
    async def patient_identifiers(
        incident_id: uuid.UUID, request: Request, svc: Service, vault: Vault, caller: IdentifierReader
    ) -> JSONResponse:
        """The one door to identifiers (duty of candour): each read is written to the audit
        trail, in the same transaction as the decryption."""
        try:
            latest, _facts = await svc.current(incident_id)
        except IncidentNotFoundError:
            return _not_found(incident_id)
        if not caller.sees(latest.tenant.trust):
            return _not_found(incident_id)
        revealed = await vault.reveal(
            incident_id, actor=caller.subject, correlation_id=request.state.correlation_id
        )
        if revealed is None:
            return problem(404, "Not found", f"no patient identifiers were sent for incident {incident_id}")
        if revealed.identifiers is None:
            return problem(
                410, "Gone", "the patient's identifiers were erased", patient_pseudonym=revealed.pseudonym
            )
        return JSONResponse(
            {
                "incident_id": str(incident_id),
                "patient_pseudonym": revealed.pseudonym,
                "identifiers": revealed.identifiers.to_json(),
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.delete("/patients/{pseudonym}", status_code=204, responses={404: {}})
    async def erase_patient(
        pseudonym: Annotated[str, Path(pattern=r"^pt-[0-9a-f]{24}$")],
        request: Request,
        vault: Vault,
        caller: Eraser,
    ) -> Response:
        """Erasure by crypto-shredding: the patient's data key is deleted, so every stored copy
        of their identifiers is unreadable. Incidents, events and reports keep the pseudonym."""
        trust = await vault.trust_of_patient(pseudonym)
        if trust is None or not caller.sees(trust):
            return problem(404, "Not found", f"no patient {pseudonym}")
        erased = await vault.erase(
            pseudonym, actor=caller.subject, correlation_id=request.state.correlation_id
        )
        if not erased:
            return problem(404, "Not found", f"patient {pseudonym} has no key (already erased?)")
        return Response(status_code=204)

    app.include_router(router)
    app.include_router(fhir_router(_service, runtime.clock, facilities or {}))
    return app


def _site_of_another_trust(site: str) -> JSONResponse:
    # People are trust-wide, so may_post_for cannot know site codes: the registry does.
    return problem(403, "Forbidden", f"site {site} is registered to another trust")


def _not_yours(trust: str, site: str) -> JSONResponse:
    return problem(403, "Forbidden", f"these credentials may not report for trust {trust} site {site}")


def _accepted(answer: Answer) -> JSONResponse:
    incident_id = answer.body["incident_id"]
    return JSONResponse(
        answer.body, status_code=answer.status_code, headers={"Location": f"/v1/incidents/{incident_id}"}
    )


def _key_reused() -> JSONResponse:
    return problem(
        409, "Idempotency key reused", "this Idempotency-Key was used with a different request body"
    )
