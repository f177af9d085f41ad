"""Shared with us: incidents other trusts reported that name this trust among their IR(ME)R
employers (reporting's ``/v1/trusts/{trust}/shared-incidents``), each showing only this trust's
part: the day and modality, its own part, who notifies and how far the notification has got.
Read-only; the other trust's full incident stays not found here as everywhere.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.entrypoints.context import CallerDep, Parts, PersonDep, render, section

router = APIRouter(prefix="/shared-incidents")


@router.get("")
async def shared_incidents_page(
    request: Request, console: Parts, caller: CallerDep, person: PersonDep
) -> Response:
    items = await section(console.api().reporting.shared_incidents(caller, person.trust))
    return render(request, "shared_incidents.html", {"items": items, "section": "shared"})


@router.get("/{incident_id}")
async def shared_incident_page(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep, person: PersonDep
) -> Response:
    shared = await section(console.api().reporting.shared_incident(caller, person.trust, incident_id))
    if shared.ok and shared.value is None:
        return render(request, "not_found.html", {"incident_id": incident_id}, status_code=404)
    context = {"incident_id": incident_id, "shared": shared, "section": "shared"}
    return render(request, "shared_incident.html", context)
