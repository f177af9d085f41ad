"""``/v1/incidents/{id}/local-investigation``: the investigation every incident has under
Regulation 8(3) (guidance lines 223-227) as a record: its owner (a role), its close-out with the
findings, the cause in the reports' error taxonomy and the corrective actions, its reopening, and
its history.

Commands carry ``expected_version`` (the investigation's version as last read): of two people
acting at once one wins and the other gets 409 with ``current_version``. Repeating a command that
is recorded already answers the same and emits nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_reporting.domain.local_investigation import CloseOut
from sievert_reporting.entrypoints.deps import Cases, Lead, OwnersDep, Reader
from sievert_reporting.entrypoints.schemas import ROLE
from sievert_shared.door_dates import EventDate
from sievert_shared.events.reporting import DutyHolder, ProcessStep

router = APIRouter(prefix="/v1/incidents/{incident_id}/local-investigation")

_CONFLICTS: dict[int | str, dict[str, Any]] = {404: {}, 409: {}, 422: {}}


class OwnerAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner_role: str = ROLE
    assigned_by_role: str = ROLE
    expected_version: int | None = Field(
        default=None, ge=0, description="The version last read; omitted: whatever it is now."
    )


class Close(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closed_on: EventDate = Field(description="Not before the incident was discovered, nor after tomorrow.")
    findings: str = Field(min_length=1, max_length=4000, description="What it found; anonymised.")
    closed_by_role: str = ROLE
    owner_role: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Default: the owner assigned, else the closer.",
    )
    error_duty_holder: DutyHolder | None = None
    error_process_step: ProcessStep | None = None
    corrective_actions: list[str] = Field(default_factory=list, max_length=50)
    expected_version: int = Field(ge=0, description="The investigation's version as last read.")


class Reopen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000, description="Why; anonymised.")
    reopened_by_role: str = ROLE
    expected_version: int = Field(ge=0)


@router.get("", responses={404: {}})
async def get_local_investigation(
    incident_id: uuid.UUID, caller: Reader, owners: OwnersDep, service: Cases
) -> JSONResponse:
    """Owner, status, findings, cause, corrective actions, closed on and by, and the history."""
    await owners.readable("incidents", incident_id, caller)
    return JSONResponse(await service.investigation(incident_id))


@router.put("/owner", responses=_CONFLICTS)
async def assign_owner(
    incident_id: uuid.UUID, body: OwnerAssignment, caller: Lead, owners: OwnersDep, service: Cases
) -> JSONResponse:
    trust = await owners.writable("incidents", incident_id, caller)
    view = await service.assign_owner(
        trust,
        incident_id,
        owner_role=body.owner_role,
        assigned_by_role=body.assigned_by_role,
        expected_version=body.expected_version,
        actor=caller.subject,
    )
    return JSONResponse({"incident_id": str(incident_id), **view})


@router.post("/close", responses=_CONFLICTS)
async def close(
    incident_id: uuid.UUID, body: Close, caller: Lead, owners: OwnersDep, service: Cases
) -> JSONResponse:
    """Close the investigation (``LocalInvestigationClosed``)."""
    trust = await owners.writable("incidents", incident_id, caller)
    command = CloseOut(
        closed_on=body.closed_on,
        findings=body.findings,
        closed_by_role=body.closed_by_role,
        expected_version=body.expected_version,
        owner_role=body.owner_role,
        error_duty_holder=body.error_duty_holder,
        error_process_step=body.error_process_step,
        corrective_actions=tuple(body.corrective_actions),
    )
    view = await service.close_investigation(trust, incident_id, command, caller.subject)
    return JSONResponse({"incident_id": str(incident_id), **view})


@router.post("/reopen", responses=_CONFLICTS)
async def reopen(
    incident_id: uuid.UUID, body: Reopen, caller: Lead, owners: OwnersDep, service: Cases
) -> JSONResponse:
    """Open a closed investigation again, with the reason (``LocalInvestigationReopened``)."""
    trust = await owners.writable("incidents", incident_id, caller)
    view = await service.reopen_investigation(
        trust,
        incident_id,
        reason=body.reason,
        reopened_by_role=body.reopened_by_role,
        expected_version=body.expected_version,
        actor=caller.subject,
    )
    return JSONResponse({"incident_id": str(incident_id), **view})
