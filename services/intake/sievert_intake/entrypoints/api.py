"""Intake's HTTP API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse

from sievert_intake.adapters.event_store import ConcurrencyError
from sievert_intake.domain.hl7_mapping import Facility
from sievert_intake.domain.incident import Amendment, AmendmentInvalidError, IncidentReport, request_hash
from sievert_intake.entrypoints.fhir import fhir_router
from sievert_intake.service import (
    Answer,
    DuplicateMessageConflictError,
    IdempotencyConflictError,
    IncidentNotFoundError,
    IntakeService,
    RequestContext,
)
from sievert_shared.http import BodySizeLimit, problem
from sievert_shared.runtime import ServiceRuntime, service_app

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _service(request: Request) -> IntakeService:
    runtime: ServiceRuntime = request.app.state.runtime
    return IntakeService(runtime.pool, runtime.settings.kafka.topics, runtime.clock)


async def _context(request: Request, idempotency_key: IdempotencyKey = None) -> RequestContext:
    return RequestContext(
        correlation_id=request.state.correlation_id,
        actor=request.headers.get("X-Actor"),
        idempotency_key=idempotency_key,
        request_hash=request_hash(await request.body()),
    )


# FastAPI resolves these by name, so they live at module level.
Service = Annotated[IntakeService, Depends(_service)]
Context = Annotated[RequestContext, Depends(_context)]


def create_app(
    runtime: ServiceRuntime, *, max_body_bytes: int, facilities: dict[str, Facility] | None = None
) -> FastAPI:
    app = service_app(
        runtime, description="Receives IR(ME)R incident facts from hospital integration engines."
    )

    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)  # outermost: refuse before parsing

    router = APIRouter(prefix="/v1")

    @router.post("/incidents", status_code=202, responses={409: {}, 422: {}})
    async def report_incident(report: IncidentReport, svc: Service, ctx: Context) -> JSONResponse:
        """Record a new incident and publish ``IncidentReported``."""
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
        incident_id: uuid.UUID, amendment: Amendment, svc: Service, ctx: Context
    ) -> JSONResponse:
        """Record corrected facts and publish ``IncidentFactsAmended``."""
        try:
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
    async def get_incident(incident_id: uuid.UUID, svc: Service) -> JSONResponse:
        """The current facts and the full event history of one incident."""
        try:
            return JSONResponse(await svc.get(incident_id))
        except IncidentNotFoundError:
            return problem(404, "Not found", f"no incident {incident_id}")

    app.include_router(router)
    app.include_router(fhir_router(_service, runtime.clock, facilities or {}))
    return app


def _accepted(answer: Answer) -> JSONResponse:
    incident_id = answer.body["incident_id"]
    return JSONResponse(
        answer.body, status_code=answer.status_code, headers={"Location": f"/v1/incidents/{incident_id}"}
    )


def _key_reused() -> JSONResponse:
    return problem(
        409, "Idempotency key reused", "this Idempotency-Key was used with a different request body"
    )
