"""``/v1/incidents``: report an incident, read it back, and its audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sievert_intake.domain.commands import ReportIncident
from sievert_intake.domain.incident import IncidentReport
from sievert_intake.entrypoints.deps import (
    AuditReader,
    ContextDep,
    IntakeDep,
    Reader,
    ReportsDep,
    SiteOwnersDep,
    VaultDep,
    Writer,
)
from sievert_intake.service_layer.errors import IncidentNotFoundError
from sievert_intake.service_layer.intake import Accepted
from sievert_shared.errors import ForbiddenError

router = APIRouter(prefix="/v1/incidents")


def accepted_response(accepted: Accepted) -> JSONResponse:
    """202 with the answer (as stored for the Idempotency-Key) and where to read the incident."""
    return JSONResponse(
        accepted.answer, status_code=202, headers={"Location": f"/v1/incidents/{accepted.incident_id}"}
    )


@router.post("", status_code=202, responses={409: {}, 422: {}})
async def report_incident(
    report: IncidentReport, reports: ReportsDep, ctx: ContextDep, caller: Writer, owners: SiteOwnersDep
) -> JSONResponse:
    """Record a new incident and publish ``IncidentReported``. An optional ``patient`` object
    is split off here: encrypted in the identifier store in the event's transaction, never in
    the facts or the log, which carry only its pseudonym (also in the answer). Without
    ``facts.patient_age_years``, ``patient.birth_date`` gives the age at the exposure."""
    if not caller.may_post_for(report.trust, report.site):
        raise ForbiddenError(f"these credentials may not report for trust {report.trust} site {report.site}")
    if await owners.of_another_trust(report.trust, report.site):
        # People are trust-wide, so may_post_for cannot know site codes: the registry does.
        raise ForbiddenError(f"site {report.site} is registered to another trust")
    # Stored with the reports of concurrent requests in one commit, answered as if alone.
    return accepted_response(await reports.execute(ReportIncident(report, ctx)))


@router.get("/{incident_id}", responses={404: {}})
async def get_incident(
    incident_id: uuid.UUID, intake: IntakeDep, vault: VaultDep, caller: Reader
) -> JSONResponse:
    """The current facts and the full event history of one incident."""
    found = await intake.get(incident_id)
    if not caller.sees(found["trust"]):
        raise IncidentNotFoundError(incident_id)  # another trust's incident does not exist for you
    found["patient_pseudonym"] = await vault.pseudonym_of(incident_id)
    return JSONResponse(found)


@router.get("/{incident_id}/audit", responses={404: {}})
async def audit_trail(
    incident_id: uuid.UUID, intake: IntakeDep, vault: VaultDep, caller: AuditReader
) -> JSONResponse:
    """Who did what and when: every event of the incident (from the append-only event
    store) and every read or erasure of its patient identifiers (append-only too)."""
    found = await intake.get(incident_id)
    if not caller.sees(found["trust"]):
        raise IncidentNotFoundError(incident_id)
    entries = [_event_entry(entry) for entry in found["history"]]
    entries += [_access_entry(access) for access in await vault.access_log(incident_id)]
    entries.sort(key=lambda e: str(e["at"]))
    return JSONResponse({"incident_id": str(incident_id), "trust": found["trust"], "entries": entries})


def _event_entry(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": event["recorded_at"],
        "actor": event["actor"],
        "action": event["event_type"],
        "stream_version": event["stream_version"],
        "event_id": event["event_id"],
        "correlation_id": event["correlation_id"],
    }


def _access_entry(access: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": access["at"].isoformat(),
        "actor": access["actor"],
        "action": access["action"],
        "correlation_id": access["correlation_id"],
    }
