"""The deadlines service's HTTP API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sievert_deadlines.domain import ExtensionRefusedError
from sievert_deadlines.queries import StatusFilter, incident_windows, list_windows
from sievert_deadlines.service import DeadlinesService, UnknownIncidentError
from sievert_shared.events import InvestigationReportSubmitted, NotificationSubmitted
from sievert_shared.health import health_router
from sievert_shared.http import install_http_conventions, problem
from sievert_shared.runtime import ServiceRuntime


class SubmissionRecorded(BaseModel):
    """A notification or report sent to the regulator outside Sievert (until reporting sends them)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["notification", "investigation_report"]
    authority: str = Field(min_length=2, max_length=16)
    submitted_at: AwareDatetime
    submitted_by_role: str = Field(min_length=1, max_length=100, description="A role, never a name.")


class ExtensionAgreed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extended_to: dt.date = Field(description="The new last day in time (Europe/London).")
    agreed_by: str = Field(min_length=1, max_length=200, description="e.g. 'CQC inspector (IR(ME)R team)'.")
    reason: str = Field(min_length=1, max_length=1000)


def create_app(runtime: ServiceRuntime, service: DeadlinesService) -> FastAPI:
    app = FastAPI(
        title="Sievert deadlines",
        version="1",
        description="Regulation 8 windows: notification (2 weeks), investigation report (12 weeks), local.",
        lifespan=runtime.lifespan,
    )
    install_http_conventions(app)
    app.include_router(health_router(runtime.readiness_checks))
    router = APIRouter(prefix="/v1")

    @router.get("/deadlines")
    async def deadlines(
        trust: Annotated[str | None, Query(max_length=64)] = None,
        site: Annotated[str | None, Query(max_length=64)] = None,
        status: StatusFilter | None = None,
        window: Annotated[
            str | None, Query(pattern="^(notification|investigation_report|local_investigation)$")
        ] = None,
        due_soon_days: Annotated[int, Query(ge=1, le=90)] = 7,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JSONResponse:
        """Windows, soonest due first, filtered by trust, site, status and window."""
        async with runtime.pool.acquire() as conn:
            items = await list_windows(
                conn,
                now=runtime.clock.now(),
                trust=trust,
                site=site,
                status=status,
                window=window,
                due_soon_days=due_soon_days,
                limit=limit,
            )
        return JSONResponse({"items": items})

    @router.get("/incidents/{incident_id}/deadlines", responses={404: {}})
    async def incident_deadlines(incident_id: uuid.UUID) -> JSONResponse:
        async with runtime.pool.acquire() as conn:
            items = await incident_windows(conn, incident_id, runtime.clock.now())
        if not items:
            return problem(404, "Not found", f"no deadlines for incident {incident_id} (not classified yet?)")
        return JSONResponse({"incident_id": str(incident_id), "windows": items})

    @router.post("/incidents/{incident_id}/submissions", status_code=202, responses={404: {}})
    async def record_submission(
        incident_id: uuid.UUID, body: SubmissionRecorded, request: Request
    ) -> JSONResponse:
        event = (NotificationSubmitted if body.kind == "notification" else InvestigationReportSubmitted)(
            authority=body.authority, submitted_at=body.submitted_at, submitted_by_role=body.submitted_by_role
        )
        try:
            await service.record_submission(incident_id, event, request.headers.get("X-Actor"))
        except UnknownIncidentError:
            return problem(404, "Not found", f"no deadlines for incident {incident_id}")
        return JSONResponse({"incident_id": str(incident_id), "recorded": event.event_type}, status_code=202)

    @router.post(
        "/incidents/{incident_id}/deadlines/investigation_report/extensions", responses={404: {}, 409: {}}
    )
    async def extend(incident_id: uuid.UUID, body: ExtensionAgreed, request: Request) -> JSONResponse:
        try:
            await service.extend_report_window(
                incident_id,
                extended_to=body.extended_to,
                agreed_by=body.agreed_by,
                reason=body.reason,
                actor=request.headers.get("X-Actor"),
            )
        except UnknownIncidentError:
            return problem(404, "Not found", f"no deadlines for incident {incident_id}")
        except ExtensionRefusedError as exc:
            return problem(409, "Extension refused", str(exc))
        async with runtime.pool.acquire() as conn:
            items = await incident_windows(conn, incident_id, runtime.clock.now())
        return JSONResponse({"incident_id": str(incident_id), "windows": items})

    app.include_router(router)
    return app
