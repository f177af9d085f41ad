"""``/v1/incidents/{id}/similar-incidents/confirm``: a person confirms, or edits and confirms, what
the 12-week report says about similar previous incidents and trends (line 234). The machine only
proposes the text; an unconfirmed report is not sent."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_reporting.entrypoints.deps import Lead, OwnersDep, Submissions
from sievert_reporting.entrypoints.schemas import ROLE

router = APIRouter(prefix="/v1")


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(
        min_length=1,
        max_length=4000,
        description="The text as confirmed: the proposal (GET .../findings, similar_incidents_proposed) or an edit.",
    )
    confirmed_by_role: str = ROLE


@router.post("/incidents/{incident_id}/similar-incidents/confirm", responses={404: {}, 409: {}, 422: {}})
async def confirm(
    incident_id: uuid.UUID, body: Confirmation, caller: Lead, owners: OwnersDep, service: Submissions
) -> JSONResponse:
    """Emits ``SimilarIncidentsConfirmed``; the same text again changes nothing."""
    trust = await owners.writable("incidents", incident_id, caller)
    answer = await service.confirm_similar_incidents(
        trust,
        incident_id,
        summary=body.summary,
        confirmed_by_role=body.confirmed_by_role,
        actor=caller.subject,
    )
    confirmation = answer.confirmation.model_dump(mode="json") if answer.confirmation else None
    return JSONResponse(
        {"incident_id": str(incident_id), "proposed": answer.proposed, "confirmation": confirmation}
    )
