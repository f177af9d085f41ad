"""FHIR R4 endpoints: AdverseEvent create and read, transaction Bundles, the CapabilityStatement.

Errors are OperationOutcomes whose issues carry the FHIRPath of each bad element: 400 when the
resource is not valid FHIR, 422 when it is valid FHIR but not a valid incident, 409 when its
message id was used before for other content. Stores go through IntakeService.submit, the same
transaction path as HL7 v2.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sievert_intake.domain.fhir_mapping import (
    FHIR_JSON,
    FhirIncident,
    FhirInvalid,
    FhirIssue,
    capability_statement,
    locate,
    map_adverse_event,
    map_bundle,
    operation_outcome,
    render_adverse_event,
    validate,
)
from sievert_intake.domain.hl7_mapping import Facility
from sievert_intake.domain.identity import from_fhir
from sievert_intake.domain.inbound import FactsInvalidError
from sievert_intake.domain.incident import request_hash
from sievert_intake.service import (
    DuplicateMessageConflictError,
    IncidentNotFoundError,
    IntakeService,
    Outcome,
    RequestContext,
)
from sievert_shared.auth import Principal, Role, require
from sievert_shared.clock import Clock

_WRITERS = (Role.INTEGRATION, Role.RP_LEAD)
_READERS = (Role.INTEGRATION, Role.RP_LEAD, Role.AUDITOR)


def scoped_idempotency_key(caller: Principal, key: str | None) -> str | None:
    """The caller's trust owns its Idempotency-Keys: the same key from another trust is another
    key, so that trust's stored answer (its incident id) never comes back to this one (issue 8)."""
    return None if key is None else f"key:{caller.trust}:{key}"


def _fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _outcome(status: int, issues: list[FhirIssue]) -> JSONResponse:
    return _fhir(operation_outcome(issues), status)


def fhir_router(
    service: Callable[[Request], IntakeService],
    clock: Clock,
    facilities: dict[str, Facility],
) -> APIRouter:
    router = APIRouter(prefix="/fhir", tags=["fhir"])
    writer = require(*_WRITERS)
    reader = require(*_READERS)

    async def refused(mapped: FhirIncident, request: Request) -> JSONResponse | None:
        caller: Principal = request.state.principal
        tenant = mapped.submission.tenant
        if not caller.may_post_for(tenant.trust, tenant.site):
            message = f"these credentials may not report for {tenant.trust}/{tenant.site}"
        elif await request.app.state.site_owners.of_another_trust(tenant.trust, tenant.site):
            message = f"site {tenant.site} is registered to another trust"
        else:
            return None
        return _outcome(403, [FhirIssue(None, message, "forbidden")])

    async def read_json(request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except ValueError as exc:
            raise FhirInvalid([FhirIssue(None, f"the body is not JSON: {exc}", "structure")]) from None

    def context(request: Request, body: bytes) -> RequestContext:
        caller: Principal = request.state.principal
        return RequestContext(
            correlation_id=request.state.correlation_id,
            actor=caller.subject,
            idempotency_key=scoped_idempotency_key(caller, request.headers.get("Idempotency-Key")),
            request_hash=request_hash(body),
        )

    async def store(request: Request, mapped: FhirIncident, root: str, body: Any) -> Outcome | JSONResponse:
        try:
            ctx = context(request, await request.body())
            submission = mapped.submission
            if submission.identifiers is None:
                # A Patient the AdverseEvent does not name as its subject: still this patient's.
                submission = dataclasses.replace(submission, identifiers=from_fhir(body))
            # The identifiers are stored encrypted in the transaction of the event (never in it).
            return await service(request).submit(submission, ctx)
        except FactsInvalidError as exc:
            return _outcome(422, locate(exc.problems, mapped.provenance, root))
        except DuplicateMessageConflictError as exc:
            issue = FhirIssue("Bundle.identifier", f"{exc}; nothing was stored", "duplicate")
            return _outcome(409, [issue])

    async def representation(request: Request, incident_id: uuid.UUID) -> dict[str, Any]:
        svc = service(request)
        latest, facts = await svc.current(incident_id)
        reference = await svc.reference_of(incident_id)
        return render_adverse_event(str(incident_id), latest.tenant, facts, reference, latest.stream_version)

    @router.get("/metadata")
    async def metadata() -> JSONResponse:
        """The CapabilityStatement: what this FHIR endpoint accepts."""
        return _fhir(capability_statement(clock.now()))

    @router.post(
        "/AdverseEvent",
        status_code=201,
        responses={200: {}, 400: {}, 409: {}, 422: {}},
        dependencies=[writer],
    )
    async def create_adverse_event(request: Request) -> JSONResponse:
        """An AdverseEvent with contained Patient, Observations, Location and Organization."""
        try:
            body = await read_json(request)
            validate(body, ("AdverseEvent",))
            mapped = map_adverse_event(body, facilities)
        except FhirInvalid as exc:
            return _outcome(400, exc.issues)
        if (denied := await refused(mapped, request)) is not None:
            return denied
        stored = await store(request, mapped, "AdverseEvent", body)
        if isinstance(stored, JSONResponse):
            return stored
        location = f"/fhir/AdverseEvent/{stored.incident_id}"
        return _fhir(
            await representation(request, stored.incident_id),
            201 if stored.created and not stored.duplicate else 200,
            {"Location": location},
        )

    @router.post("", responses={400: {}, 409: {}, 422: {}}, dependencies=[writer])
    async def transaction(request: Request) -> JSONResponse:
        """A transaction Bundle: one AdverseEvent with the resources it refers to."""
        try:
            body = await read_json(request)
            validate(body, ("Bundle",))
            mapped = map_bundle(body, facilities)
        except FhirInvalid as exc:
            return _outcome(400, exc.issues)
        if (denied := await refused(mapped, request)) is not None:
            return denied
        stored = await store(request, mapped, "AdverseEvent", body)
        if isinstance(stored, JSONResponse):
            return stored
        status = "201 Created" if stored.created and not stored.duplicate else "200 OK"
        entries = []
        for entry in body.get("entry") or []:
            resource_type = (entry.get("resource") or {}).get("resourceType")
            if resource_type == "AdverseEvent":
                entries.append(
                    {
                        "response": {
                            "status": status,
                            "location": f"AdverseEvent/{stored.incident_id}/_history/{stored.stream_version}",
                        }
                    }
                )
            else:
                # Mapped into the incident's facts, not kept as a resource of its own.
                entries.append({"response": {"status": "200 OK"}})
        return _fhir({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})

    @router.get("/AdverseEvent/{incident_id}", responses={404: {}}, dependencies=[reader])
    async def read_adverse_event(incident_id: str, request: Request) -> JSONResponse:
        caller: Principal = request.state.principal
        try:
            found = uuid.UUID(incident_id)
            latest, _facts = await service(request).current(found)
            if not caller.sees(latest.tenant.trust):
                raise IncidentNotFoundError(found)  # another trust's incident does not exist for you
            return _fhir(await representation(request, found))
        except (ValueError, IncidentNotFoundError):
            return _outcome(
                404, [FhirIssue("AdverseEvent.id", f"no AdverseEvent {incident_id}", "not-found")]
            )

    return router
