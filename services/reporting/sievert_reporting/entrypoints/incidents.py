"""``/v1/incidents``: the incident read model with its case (status, local investigation, open
correspondence and tasks), and the investigation's findings."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from sievert_reporting.adapters.read_model import IncidentFilter, get_incident, list_incidents
from sievert_reporting.entrypoints.deps import Lead, OwnersDep, Pool, Reader, Submissions
from sievert_reporting.entrypoints.schemas import ROLE
from sievert_shared.door_dates import CalendarDate
from sievert_shared.errors import NotFoundError
from sievert_shared.events import InvestigationFindingsRecorded
from sievert_shared.events.reporting import DutyHolder, ProcessStep

router = APIRouter(prefix="/v1")


class FindingsBody(BaseModel):
    """Items of the investigation (guidance lines 229-238); omitted items are unchanged."""

    model_config = ConfigDict(extra="forbid")

    recorded_by_role: str = ROLE
    what_happened: str | None = Field(default=None, max_length=4000)
    dose_assessment: str | None = Field(default=None, max_length=4000)
    root_causes: list[str] | None = Field(default=None, max_length=50)
    contributory_factors: list[str] | None = Field(default=None, max_length=50)
    duty_of_candour_met: StrictBool | None = None
    duty_of_candour_notes: str | None = Field(default=None, max_length=4000)
    csaue_procedure_applied: StrictBool | None = None
    csaue_procedure_notes: str | None = Field(default=None, max_length=4000)
    learning: str | None = Field(default=None, max_length=4000)
    learning_shared_how: str | None = Field(default=None, max_length=4000)
    corrective_actions: list[str] | None = Field(default=None, max_length=50)
    error_duty_holder: DutyHolder | None = None
    error_process_step: ProcessStep | None = None


@router.get("/incidents")
async def incidents(
    trust: Annotated[str | None, Query(max_length=64)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    notifiable: bool | None = None,
    authority: Annotated[str | None, Query(max_length=16)] = None,
    code: Annotated[str | None, Query(max_length=16, description="e.g. 2.2 or M2.1")] = None,
    modality: Annotated[str | None, Query(max_length=64)] = None,
    discovered_from: CalendarDate | None = None,
    discovered_to: CalendarDate | None = None,
    case_status: Annotated[
        Literal["open", "withdrawal_requested", "closed"] | None,
        Query(description="The case's status: open, withdrawal requested or closed."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    *,
    caller: Reader,
    pool: Pool,
) -> JSONResponse:
    """Incidents, newest discovery first. Follow ``next_cursor`` for the next page. Only the
    caller's trust: another trust in ``trust=`` gives an empty list."""
    if not caller.every_trust:
        if trust is not None and not caller.sees(trust):
            return JSONResponse({"items": [], "next_cursor": None})
        trust = caller.trust
    where = IncidentFilter(
        trust, site, notifiable, authority, code, modality, discovered_from, discovered_to, case_status
    )
    async with pool.acquire() as conn:
        return JSONResponse(await list_incidents(conn, where, limit=limit, cursor=cursor))


@router.get("/incidents/{incident_id}", responses={404: {}})
async def incident(incident_id: uuid.UUID, caller: Reader, pool: Pool) -> JSONResponse:
    async with pool.acquire() as conn:
        row = await get_incident(conn, incident_id)
    if row is None or not caller.sees(row["trust"]):
        raise NotFoundError(f"no incident {incident_id} in the read model (yet)")
    return JSONResponse(row)


@router.post("/incidents/{incident_id}/findings", status_code=202, responses={404: {}, 409: {}, 422: {}})
async def record_findings(
    incident_id: uuid.UUID, body: FindingsBody, caller: Lead, owners: OwnersDep, service: Submissions
) -> JSONResponse:
    trust = await owners.writable("incidents", incident_id, caller)
    event = InvestigationFindingsRecorded.model_validate(body.model_dump())
    await service.record_findings(trust, incident_id, event, caller.subject)
    return await _findings(service, trust, incident_id, status=202)


@router.get("/incidents/{incident_id}/findings", responses={404: {}})
async def get_findings(
    incident_id: uuid.UUID, caller: Reader, owners: OwnersDep, service: Submissions
) -> JSONResponse:
    trust = await owners.readable("incidents", incident_id, caller)
    return await _findings(service, trust, incident_id)


async def _findings(
    service: Submissions, trust: str, incident_id: uuid.UUID, status: int = 200
) -> JSONResponse:
    findings, missing, proposed = await service.findings(trust, incident_id)
    return JSONResponse(
        {
            "incident_id": str(incident_id),
            "findings": findings.model_dump(mode="json"),
            "missing": missing,
            "similar_incidents_proposed": proposed,
        },
        status_code=status,
    )
