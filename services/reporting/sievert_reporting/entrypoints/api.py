"""Reporting's HTTP API: the incident read model for people and dashboards."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse

from sievert_reporting.queries import BadCursorError, IncidentFilter, get_incident, list_incidents
from sievert_shared.health import health_router
from sievert_shared.http import install_http_conventions, problem
from sievert_shared.runtime import ServiceRuntime


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = FastAPI(
        title="Sievert reporting",
        version="1",
        description="Read models and regulator submissions projected from the event log.",
        lifespan=runtime.lifespan,
    )
    install_http_conventions(app)
    app.include_router(health_router(runtime.readiness_checks))
    router = APIRouter(prefix="/v1")

    @router.get("/incidents")
    async def incidents(
        trust: Annotated[str | None, Query(max_length=64)] = None,
        site: Annotated[str | None, Query(max_length=64)] = None,
        notifiable: bool | None = None,
        authority: Annotated[str | None, Query(max_length=16)] = None,
        code: Annotated[str | None, Query(max_length=16, description="e.g. 2.2 or M2.1")] = None,
        modality: Annotated[str | None, Query(max_length=64)] = None,
        discovered_from: dt.date | None = None,
        discovered_to: dt.date | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> JSONResponse:
        """Incidents, newest discovery first. Follow ``next_cursor`` for the next page."""
        where = IncidentFilter(
            trust, site, notifiable, authority, code, modality, discovered_from, discovered_to
        )
        try:
            async with runtime.pool.acquire() as conn:
                return JSONResponse(await list_incidents(conn, where, limit=limit, cursor=cursor))
        except BadCursorError as exc:
            return problem(
                422, "Invalid request", str(exc), errors=[{"path": "query/cursor", "message": str(exc)}]
            )

    @router.get("/incidents/{incident_id}", responses={404: {}})
    async def incident(incident_id: uuid.UUID) -> JSONResponse:
        async with runtime.pool.acquire() as conn:
            row = await get_incident(conn, incident_id)
        if row is None:
            return problem(404, "Not found", f"no incident {incident_id} in the read model (yet)")
        return JSONResponse(row)

    app.include_router(router)
    return app
