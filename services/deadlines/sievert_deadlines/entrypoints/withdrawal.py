"""``/v1/incidents/{incident_id}/withdrawal``: the enforcing authority agreed to withdraw a
notification that no longer meets the criteria (its report is then no longer due)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_deadlines.entrypoints.case_view import case_view
from sievert_deadlines.entrypoints.deps import RpLead, ServiceDep
from sievert_deadlines.entrypoints.incidents import visible_windows
from sievert_shared.door_dates import EventDate

withdrawal_router = APIRouter(prefix="/v1")


class WithdrawalAgreed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreed_on: EventDate = Field(description="The day the authority agreed, from its correspondence.")
    authority_reference: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$",
        description="The authority's reference for the notification or its agreement.",
    )
    recorded_by_role: str = Field(
        default="Radiation protection lead", min_length=1, max_length=100, description="A role, never a name."
    )
    expected_version: int | None = Field(
        default=None, ge=0, description="The case version read; a change since then answers 409."
    )


@withdrawal_router.post("/incidents/{incident_id}/withdrawal", responses={404: {}, 409: {}, 422: {}})
async def agree_withdrawal(
    incident_id: uuid.UUID, body: WithdrawalAgreed, caller: RpLead, service: ServiceDep
) -> JSONResponse:
    """Record the authority's agreement: ``NotificationWithdrawalAgreed``, then the report
    window is cancelled naming the reference. 409 if the incident was never notified or no
    withdrawal is pending; the same agreement again answers the same, with no new event."""
    await visible_windows(service, incident_id, caller)
    deadlines, windows, changed = await service.agree_withdrawal(
        incident_id,
        agreed_on=body.agreed_on,
        authority_reference=body.authority_reference,
        recorded_by_role=body.recorded_by_role,
        expected_version=body.expected_version,
        actor=caller.subject,
    )
    return JSONResponse(
        {
            "incident_id": str(incident_id),
            "recorded": changed,
            "case": case_view(deadlines),
            "windows": windows,
        }
    )
