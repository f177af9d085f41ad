"""The deadlines service's HTTP API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sievert_deadlines.adapters import store
from sievert_deadlines.domain import DeadlinePolicy, ExtensionRefusedError
from sievert_deadlines.queries import StatusFilter, incident_windows, list_windows
from sievert_deadlines.service import DeadlinesService, UnknownIncidentError
from sievert_shared.auth import Authenticator, Principal, Role, install_auth, require
from sievert_shared.events import InvestigationReportSubmitted, NotificationSubmitted
from sievert_shared.http import problem
from sievert_shared.runtime import ServiceRuntime, service_app


class SubmissionRecorded(BaseModel):
    """A notification or report sent to the regulator outside Sievert, e.g. through its portal.
    The window is met, and reporting records it as submitted externally (and so will not draft
    or issue another for the incident)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["notification", "investigation_report"]
    authority: str = Field(min_length=2, max_length=16)
    submitted_at: AwareDatetime
    submitted_by_role: str = Field(min_length=1, max_length=100, description="A role, never a name.")
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$",
        description="The authority's reference for the submission, if it gave one.",
    )


class ExtensionAgreed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extended_to: dt.date = Field(description="The new last day in time (Europe/London).")
    agreed_by: str = Field(min_length=1, max_length=200, description="e.g. 'CQC inspector (IR(ME)R team)'.")
    reason: str = Field(min_length=1, max_length=1000)


class PolicySet(BaseModel):
    """A trust's deadline policy. The two Regulation 8(4) windows are statutory and not here."""

    model_config = ConfigDict(extra="forbid")

    local_investigation_days: int = Field(ge=1, le=365, description="Regulation 8(3) window, in days.")
    notification_reminders: list[int] = Field(description="Days before the 2-week due, e.g. [7, 3, 1].")
    report_reminders: list[int] = Field(description="Days before the 12-week due, e.g. [28, 14, 7, 1].")
    local_investigation_reminders: list[int] = Field(description="Days before the local due, e.g. [7].")


# Who may do what (issue 8): reads for the RP lead and auditors; acting on a window (a
# submission, an agreed extension) and the trust's policy for the RP lead and trust admins.
Reader = Annotated[Principal, require(Role.RP_LEAD, Role.AUDITOR)]
Actor = Annotated[Principal, require(Role.RP_LEAD, Role.TRUST_ADMIN)]
PolicyReader = Annotated[Principal, require(Role.RP_LEAD, Role.TRUST_ADMIN, Role.AUDITOR)]


def _no_deadlines(incident_id: uuid.UUID) -> JSONResponse:
    return problem(404, "Not found", f"no deadlines for incident {incident_id} (not classified yet?)")


def create_app(
    runtime: ServiceRuntime, service: DeadlinesService, authenticator: Authenticator | None = None
) -> FastAPI:
    app = service_app(
        runtime,
        description="Regulation 8 windows: notification (2 weeks), investigation report (12 weeks), local.",
    )
    # AUTH_* settings (shared by every service); tests swap app.state.authenticator.
    install_auth(
        app, authenticator or Authenticator.from_settings(None, environment=runtime.settings.environment)
    )
    router = APIRouter(prefix="/v1")

    async def windows_of(incident_id: uuid.UUID, caller: Principal) -> list[dict[str, Any]]:
        """The incident's windows, or none when it belongs to another trust: to that caller it
        does not exist (404, not 403, so ids of other trusts cannot be probed)."""
        async with runtime.pool.acquire() as conn:
            items = await incident_windows(conn, incident_id, runtime.clock.now())
        return items if items and caller.sees(items[0]["trust"]) else []

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
        *,
        caller: Reader,
    ) -> JSONResponse:
        """Windows, soonest due first, filtered by trust, site, status and window. Only the
        caller's trust: another trust in ``trust=`` gives an empty list."""
        if not caller.every_trust:
            if trust is not None and not caller.sees(trust):
                return JSONResponse({"items": []})
            trust = caller.trust
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
    async def incident_deadlines(incident_id: uuid.UUID, caller: Reader) -> JSONResponse:
        items = await windows_of(incident_id, caller)
        if not items:
            return _no_deadlines(incident_id)
        return JSONResponse({"incident_id": str(incident_id), "windows": items})

    @router.post("/incidents/{incident_id}/submissions", status_code=202, responses={404: {}})
    async def record_submission(
        incident_id: uuid.UUID, body: SubmissionRecorded, caller: Actor
    ) -> JSONResponse:
        if not await windows_of(incident_id, caller):
            return _no_deadlines(incident_id)
        event = (NotificationSubmitted if body.kind == "notification" else InvestigationReportSubmitted)(
            authority=body.authority,
            submitted_at=body.submitted_at,
            submitted_by_role=body.submitted_by_role,
            reference=body.reference,
        )
        try:
            await service.record_submission(incident_id, event, caller.subject)
        except UnknownIncidentError:
            return problem(404, "Not found", f"no deadlines for incident {incident_id}")
        return JSONResponse({"incident_id": str(incident_id), "recorded": event.event_type}, status_code=202)

    @router.post(
        "/incidents/{incident_id}/deadlines/investigation_report/extensions", responses={404: {}, 409: {}}
    )
    async def extend(incident_id: uuid.UUID, body: ExtensionAgreed, caller: Actor) -> JSONResponse:
        if not await windows_of(incident_id, caller):
            return _no_deadlines(incident_id)
        try:
            await service.extend_report_window(
                incident_id,
                extended_to=body.extended_to,
                agreed_by=body.agreed_by,
                reason=body.reason,
                actor=caller.subject,
            )
        except UnknownIncidentError:
            return problem(404, "Not found", f"no deadlines for incident {incident_id}")
        except ExtensionRefusedError as exc:
            return problem(409, "Extension refused", str(exc))
        async with runtime.pool.acquire() as conn:
            items = await incident_windows(conn, incident_id, runtime.clock.now())
        return JSONResponse({"incident_id": str(incident_id), "windows": items})

    @router.get("/trusts/{trust}/deadline-policy")
    async def get_policy(trust: Annotated[str, Path(max_length=64)], caller: PolicyReader) -> JSONResponse:
        if not caller.sees(trust):
            return problem(404, "Not found", f"no trust {trust}")
        async with runtime.pool.acquire() as conn:
            policy = await store.policy_for(conn, trust)
        return JSONResponse({"trust": trust, **store.policy_json(policy)})

    @router.put("/trusts/{trust}/deadline-policy", responses={422: {}})
    async def put_policy(
        trust: Annotated[str, Path(max_length=64)], body: PolicySet, caller: Actor
    ) -> JSONResponse:
        """Applies to windows opened from now on; windows already open keep the plan they have."""
        if not caller.sees(trust):
            return problem(404, "Not found", f"no trust {trust}")
        try:
            policy = DeadlinePolicy(
                local_investigation_days=body.local_investigation_days,
                notification_reminders=tuple(body.notification_reminders),
                report_reminders=tuple(body.report_reminders),
                local_investigation_reminders=tuple(body.local_investigation_reminders),
            )
        except ValueError as exc:
            return problem(422, "Invalid request", str(exc), errors=[{"path": "body", "message": str(exc)}])
        async with runtime.pool.acquire() as conn:
            await store.set_policy(conn, trust, policy, runtime.clock.now())
        return JSONResponse({"trust": trust, **store.policy_json(policy)})

    app.include_router(router)
    return app
