"""FHIR R4 endpoints: AdverseEvent create and read, transaction Bundles, the CapabilityStatement.

Errors are OperationOutcomes, not problem+json: ``FhirRoute`` turns what these routes raise into
one, whose issues carry the FHIRPath of each bad element: 400 when the resource is not valid
FHIR, 422 when it is valid FHIR but not a valid incident, 409 when its message id was used
before for other content. Stores go through ``IntakeService.execute``, the path of every door.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from sievert_intake.adapters.trust_admin import SiteOwners
from sievert_intake.domain.commands import RecordMessage, RequestContext
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
from sievert_intake.entrypoints.deps import (
    ClockDep,
    FacilitiesDep,
    FhirContextDep,
    IntakeDep,
    Reader,
    SiteOwnersDep,
    Writer,
)
from sievert_intake.service_layer.errors import DuplicateMessageConflictError, IncidentNotFoundError
from sievert_intake.service_layer.intake import Accepted, IntakeService
from sievert_shared.auth import Principal
from sievert_shared.errors import ForbiddenError, ProblemError

#: OperationOutcome.issue.code (http://hl7.org/fhir/issue-type) of an error known by its status.
_ISSUE_CODES = {403: "forbidden", 404: "not-found", 409: "conflict"}


class FhirOutcomeError(Exception):
    """An answer already in FHIR's terms: its status and the issues of its OperationOutcome."""

    def __init__(self, status: int, issues: list[FhirIssue]) -> None:
        super().__init__("; ".join(issue.message for issue in issues))
        self.status = status
        self.issues = issues


def _fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _outcome_of(exc: Exception) -> FhirOutcomeError | None:
    """The OperationOutcome for what a FHIR route raised; None: not the caller's error."""
    if isinstance(exc, FhirOutcomeError):
        return exc
    if isinstance(exc, FhirInvalid):
        return FhirOutcomeError(400, exc.issues)
    if isinstance(exc, DuplicateMessageConflictError):
        message = (
            f"message {exc.source_message_id} was already received with other content; nothing was stored"
        )
        return FhirOutcomeError(409, [FhirIssue("Bundle.identifier", message, "duplicate")])
    if isinstance(exc, IncidentNotFoundError):
        issue = FhirIssue("AdverseEvent.id", f"no AdverseEvent {exc.incident_id}", "not-found")
        return FhirOutcomeError(404, [issue])
    if isinstance(exc, ProblemError):
        return FhirOutcomeError(
            exc.status, [FhirIssue(None, exc.detail, _ISSUE_CODES.get(exc.status, "invalid"))]
        )
    return None


class FhirRoute(APIRoute):
    """A route whose errors answer as OperationOutcome (the rest of the app answers problem+json).
    Failed authentication keeps the app's answer: it is not about the resource."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer_in_fhir(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as exc:
                outcome = _outcome_of(exc)
                if outcome is None:
                    raise
                return _fhir(operation_outcome(outcome.issues), outcome.status)

        return answer_in_fhir


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def _outcomes(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """What the document says of these statuses: an OperationOutcome (``sievert_shared``'s
    documentation adds problem+json beside it, which the shared plumbing answers)."""
    outcome = {"content": {FHIR_JSON: {"schema": {"type": "object", "title": "OperationOutcome"}}}}
    return {status: {**outcome, "description": "OperationOutcome"} for status in statuses}


router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FhirRoute, default_response_class=FhirResponse)


async def _read_json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError) as exc:
        raise FhirInvalid([FhirIssue(None, f"the body is not JSON: {exc}", "structure")]) from None


@dataclasses.dataclass(frozen=True)
class _Receiver:
    """What storing a FHIR resource needs: the caller, the request's context and the stores."""

    caller: Principal
    ctx: RequestContext
    intake: IntakeService
    owners: SiteOwners
    facilities: dict[str, Facility]

    async def receive(
        self,
        request: Request,
        resource_type: str,
        mapper: Callable[[dict[str, Any], dict[str, Facility]], FhirIncident],
    ) -> tuple[Accepted, Any]:
        """Read, validate and map the body as ``resource_type``, then store it: the one path both
        the AdverseEvent and the transaction Bundle take. What was stored, and the body read."""
        body = await _read_json(request)
        validate(body, (resource_type,))
        return await self._store(mapper(body, self.facilities), body), body

    async def _store(self, mapped: FhirIncident, body: Any) -> Accepted:
        """Store a mapped resource if the caller may report for its tenant; the patient's
        identifiers go encrypted into the transaction of the event (never into it)."""
        tenant = mapped.submission.tenant
        if not self.caller.may_post_for(tenant.trust, tenant.site):
            raise ForbiddenError(f"these credentials may not report for {tenant.trust}/{tenant.site}")
        if await self.owners.of_another_trust(tenant.trust, tenant.site):
            raise ForbiddenError(f"site {tenant.site} is registered to another trust")
        submission = mapped.submission
        if submission.identifiers is None:
            # A Patient the AdverseEvent does not name as its subject: still this patient's.
            submission = dataclasses.replace(submission, identifiers=from_fhir(body))
        try:
            return await self.intake.execute(RecordMessage(submission, self.ctx))
        except FactsInvalidError as exc:
            raise FhirOutcomeError(422, locate(exc.problems, mapped.provenance, "AdverseEvent")) from None


async def _receiver(
    caller: Writer, ctx: FhirContextDep, intake: IntakeDep, owners: SiteOwnersDep, facilities: FacilitiesDep
) -> _Receiver:
    return _Receiver(caller, ctx, intake, owners, facilities)


ReceiverDep = Annotated[_Receiver, Depends(_receiver)]


async def _representation(intake: IntakeService, incident_id: uuid.UUID) -> dict[str, Any]:
    latest, facts = await intake.current(incident_id)
    reference = await intake.reference_of(incident_id)
    return render_adverse_event(str(incident_id), latest.tenant, facts, reference, latest.stream_version)


@router.get("/metadata")
async def metadata(clock: ClockDep) -> JSONResponse:
    """The CapabilityStatement: what this FHIR endpoint accepts."""
    return _fhir(capability_statement(clock.now()))


@router.post(
    "/AdverseEvent",
    status_code=201,
    responses={200: {"content": {FHIR_JSON: {}}}, **_outcomes(400, 403, 409, 422)},
)
async def create_adverse_event(request: Request, receiver: ReceiverDep) -> JSONResponse:
    """An AdverseEvent with contained Patient, Observations, Location and Organization."""
    stored, _body = await receiver.receive(request, "AdverseEvent", map_adverse_event)
    return _fhir(
        await _representation(receiver.intake, stored.incident_id),
        201 if stored.created and not stored.duplicate else 200,
        {"Location": f"/fhir/AdverseEvent/{stored.incident_id}"},
    )


@router.post("", responses=_outcomes(400, 403, 409, 422))
async def transaction(request: Request, receiver: ReceiverDep) -> JSONResponse:
    """A transaction Bundle: one AdverseEvent with the resources it refers to."""
    stored, body = await receiver.receive(request, "Bundle", map_bundle)
    status = "201 Created" if stored.created and not stored.duplicate else "200 OK"
    entries = []
    for entry in body.get("entry") or []:
        if (entry.get("resource") or {}).get("resourceType") == "AdverseEvent":
            location = f"AdverseEvent/{stored.incident_id}/_history/{stored.stream_version}"
            entries.append({"response": {"status": status, "location": location}})
        else:
            # Mapped into the incident's facts, not kept as a resource of its own.
            entries.append({"response": {"status": "200 OK"}})
    return _fhir({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


@router.get("/AdverseEvent/{incident_id}", responses=_outcomes(404))
async def read_adverse_event(incident_id: str, caller: Reader, intake: IntakeDep) -> JSONResponse:
    try:
        found = uuid.UUID(incident_id)
        latest, _facts = await intake.current(found)
    except (ValueError, IncidentNotFoundError):
        raise IncidentNotFoundError(incident_id) from None  # as the path gave it
    if not caller.sees(latest.tenant.trust):
        raise IncidentNotFoundError(incident_id)  # another trust's incident does not exist for you
    return _fhir(await _representation(intake, found))
