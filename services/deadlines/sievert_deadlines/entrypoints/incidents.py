"""``/v1/incidents/{incident_id}/…``: one incident's windows, a submission made outside Sievert,
and an extension the enforcing authority agreed."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_deadlines.entrypoints.case_view import case_view
from sievert_deadlines.entrypoints.deps import Actor, Reader, ServiceDep
from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_shared.auth import Principal
from sievert_shared.door_dates import CalendarDate, EventInstant
from sievert_shared.errors import NotFoundError
from sievert_shared.events import InvestigationReportSubmitted, NotificationSubmitted

incidents_router = APIRouter(prefix="/v1")


class SubmissionRecorded(BaseModel):
    """A notification or report sent to the regulator outside Sievert, e.g. through its portal.
    The window is met, and reporting records it as submitted externally (and so will not draft
    or issue another for the incident)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["notification", "investigation_report"]
    authority: str = Field(min_length=2, max_length=16)
    submitted_at: EventInstant
    submitted_by_role: str = Field(min_length=1, max_length=100, description="A role, never a name.")
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$",
        description="The authority's reference for the submission, if it gave one.",
    )

    def as_event(self) -> NotificationSubmitted | InvestigationReportSubmitted:
        event_class = NotificationSubmitted if self.kind == "notification" else InvestigationReportSubmitted
        return event_class(
            authority=self.authority,
            submitted_at=self.submitted_at,
            submitted_by_role=self.submitted_by_role,
            reference=self.reference,
        )


class ExtensionAgreed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extended_to: CalendarDate = Field(description="The new last day in time (Europe/London).")
    agreed_by: str = Field(min_length=1, max_length=200, description="e.g. 'CQC inspector (IR(ME)R team)'.")
    reason: str = Field(min_length=1, max_length=1000)


class NoDeadlinesError(NotFoundError):
    """The incident has no windows this caller may see: not classified yet, or another trust's
    (to that caller it does not exist: 404, not 403, so ids of other trusts cannot be probed)."""

    def __init__(self, incident_id: uuid.UUID) -> None:
        super().__init__(f"no deadlines for incident {incident_id} (not classified yet?)")


async def visible_windows(
    service: DeadlinesService, incident_id: uuid.UUID, caller: Principal
) -> list[dict[str, Any]]:
    """The incident's windows, if the caller may see them; ``NoDeadlinesError`` otherwise."""
    return _visible(await service.incident_windows(incident_id), incident_id, caller)


def _visible(items: list[dict[str, Any]], incident_id: uuid.UUID, caller: Principal) -> list[dict[str, Any]]:
    if not items or not caller.sees(items[0]["trust"]):
        raise NoDeadlinesError(incident_id)
    return items


@incidents_router.get("/incidents/{incident_id}/deadlines", responses={404: {}})
async def incident_deadlines(incident_id: uuid.UUID, caller: Reader, service: ServiceDep) -> JSONResponse:
    """Every window (due, met on, days late, extensions, provisional or firm, counted from which
    day) and the case: open, withdrawal requested or closed, and until when it is kept."""
    deadlines, windows = await service.incident_deadlines(incident_id)
    items = _visible(windows, incident_id, caller)
    case = case_view(deadlines) if deadlines is not None else None
    return JSONResponse({"incident_id": str(incident_id), "case": case, "windows": items})


@incidents_router.post("/incidents/{incident_id}/submissions", status_code=202, responses={404: {}})
async def record_submission(
    incident_id: uuid.UUID, body: SubmissionRecorded, caller: Actor, service: ServiceDep
) -> JSONResponse:
    await visible_windows(service, incident_id, caller)
    event = body.as_event()
    await service.record_submission(incident_id, event, caller.subject)
    return JSONResponse({"incident_id": str(incident_id), "recorded": event.event_type}, status_code=202)


@incidents_router.post(
    "/incidents/{incident_id}/deadlines/investigation_report/extensions", responses={404: {}, 409: {}}
)
async def extend(
    incident_id: uuid.UUID, body: ExtensionAgreed, caller: Actor, service: ServiceDep
) -> JSONResponse:
    await visible_windows(service, incident_id, caller)
    await service.extend_report_window(
        incident_id,
        extended_to=body.extended_to,
        agreed_by=body.agreed_by,
        reason=body.reason,
        actor=caller.subject,
    )
    items = await service.incident_windows(incident_id)
    return JSONResponse({"incident_id": str(incident_id), "windows": items})
