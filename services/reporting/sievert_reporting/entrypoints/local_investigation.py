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
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_reporting.domain.local_investigation import CloseOut
from sievert_reporting.domain.taxonomy import ErrorCategoryInput, RadiotherapyEventInput
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


_Code = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ErrorCategoryBody(BaseModel):
    """CQC's three tiers, as codes of the version in force on the discovery day (docs/reporting.md)."""

    model_config = ConfigDict(extra="forbid")

    duty_holder: Annotated[str, _Code] = Field(description="Tier 1, e.g. 'referrer'.")
    pathway_point: Annotated[str, _Code] = Field(description="Tier 2, e.g. 'incorrect_referral'.")
    what_went_wrong: Annotated[str, _Code] | None = Field(
        default=None, description="Tier 3, e.g. 'wrong_patient'."
    )

    def command(self) -> ErrorCategoryInput:
        return ErrorCategoryInput(self.duty_holder, self.pathway_point, self.what_went_wrong)


class RadiotherapyEventBody(BaseModel):
    """The national radiotherapy event coding (radiotherapy incidents only)."""

    model_config = ConfigDict(extra="forbid")

    level: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="Classification level; omit it where it follows from the incident (notifiable: 1, near miss: 4).",
    )
    process_subcodes: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)
    failed_safety_barriers: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)
    effective_safety_barriers: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)
    causative_factors: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)
    detection_methods: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)

    def command(self) -> RadiotherapyEventInput:
        return RadiotherapyEventInput(
            level=self.level,
            process_subcodes=tuple(self.process_subcodes),
            failed_safety_barriers=tuple(self.failed_safety_barriers),
            effective_safety_barriers=tuple(self.effective_safety_barriers),
            causative_factors=tuple(self.causative_factors),
            detection_methods=tuple(self.detection_methods),
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
    error_category: ErrorCategoryBody | None = None
    radiotherapy_event: RadiotherapyEventBody | None = None
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


@router.get("/coding", responses={404: {}})
async def get_coding_choices(
    incident_id: uuid.UUID, caller: Reader, owners: OwnersDep, service: Cases
) -> JSONResponse:
    """What the close-out may be coded with: CQC's three tiers of the version in force on the
    discovery day (``error_category``) and, for a radiotherapy incident, the radiotherapy event
    taxonomy's version in force, its levels, the level derived from the incident (``null``: the
    close-out states it) and its code lists (``radiotherapy_event``; ``null`` outside radiotherapy)."""
    trust = await owners.readable("incidents", incident_id, caller)
    return JSONResponse(await service.coding_choices(trust, incident_id))


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
    """Close the investigation (``LocalInvestigationClosed``), coded in CQC's error taxonomy and,
    for a radiotherapy incident, the national radiotherapy event taxonomy (422 for a code the
    version in force does not hold, or a level that is needed and missing)."""
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
        error_category=body.error_category.command() if body.error_category else None,
        radiotherapy_event=body.radiotherapy_event.command() if body.radiotherapy_event else None,
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
