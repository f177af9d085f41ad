"""``/v1/incidents/{id}/authority``: the enforcing authority's correspondence about a notified
incident (guidance lines 116-131): its reference number, the details it asked for and the
trust's answers, and its closure of the notification. Only a notified incident (its notification
issued in Sievert or recorded as sent outside it) has any: otherwise 409. Repeating what is
recorded already answers the same and emits nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_reporting.entrypoints.deps import Cases, Lead, OwnersDep, Reader
from sievert_reporting.entrypoints.schemas import ROLE
from sievert_shared.door_dates import EventDate

router = APIRouter(prefix="/v1/incidents/{incident_id}/authority")

_CONFLICTS: dict[int | str, dict[str, Any]] = {404: {}, 409: {}, 422: {}}
_REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$"


class QueryReceived(BaseModel):
    model_config = ConfigDict(extra="forbid")

    received_on: EventDate
    summary: str = Field(min_length=1, max_length=4000, description="What was asked; anonymised.")
    recorded_by_role: str = ROLE


class QueryAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answered_on: EventDate
    summary: str = Field(min_length=1, max_length=4000, description="What was answered; anonymised.")
    answered_by_role: str = ROLE


class AuthorityClosure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closed_on: EventDate
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=_REFERENCE,
        description="The authority's reference; default: the notification's.",
    )
    recorded_by_role: str = ROLE


@router.get("", responses={404: {}})
async def get_authority(
    incident_id: uuid.UUID, caller: Reader, owners: OwnersDep, service: Cases
) -> JSONResponse:
    """The reference (from the acknowledgement, or given with a notification sent outside
    Sievert), the queries and answers, and the closure."""
    await owners.readable("incidents", incident_id, caller)
    return JSONResponse(await service.authority(incident_id))


@router.post("/queries", status_code=201, responses=_CONFLICTS)
async def record_query(
    incident_id: uuid.UUID, body: QueryReceived, caller: Lead, owners: OwnersDep, service: Cases
) -> JSONResponse:
    """The authority asked for more details (``AuthorityQueryReceived``); 201 with the
    correspondence, 200 when this query was recorded already."""
    trust = await owners.writable("incidents", incident_id, caller)
    query_id, created = await service.record_query(
        trust,
        incident_id,
        received_on=body.received_on,
        summary=body.summary,
        recorded_by_role=body.recorded_by_role,
        actor=caller.subject,
    )
    answer = JSONResponse(
        {"query_id": str(query_id), **await service.authority(incident_id)},
        status_code=201 if created else 200,
    )
    answer.headers["Location"] = f"/v1/incidents/{incident_id}/authority"
    return answer


@router.post("/queries/{query_id}/answer", responses=_CONFLICTS)
async def answer_query(
    incident_id: uuid.UUID,
    query_id: uuid.UUID,
    body: QueryAnswer,
    caller: Lead,
    owners: OwnersDep,
    service: Cases,
) -> JSONResponse:
    """The trust's answer (``AuthorityQueryAnswered``)."""
    trust = await owners.writable("incidents", incident_id, caller)
    await service.answer_query(
        trust,
        incident_id,
        query_id,
        answered_on=body.answered_on,
        summary=body.summary,
        answered_by_role=body.answered_by_role,
        actor=caller.subject,
    )
    return JSONResponse(await service.authority(incident_id))


@router.post("/closure", responses=_CONFLICTS)
async def record_closure(
    incident_id: uuid.UUID, body: AuthorityClosure, caller: Lead, owners: OwnersDep, service: Cases
) -> JSONResponse:
    """The authority signalled closure of the notification (``AuthorityClosedCase``, line 129)."""
    trust = await owners.writable("incidents", incident_id, caller)
    await service.record_closure(
        trust,
        incident_id,
        closed_on=body.closed_on,
        reference=body.reference,
        recorded_by_role=body.recorded_by_role,
        actor=caller.subject,
    )
    return JSONResponse(await service.authority(incident_id))
