"""``/v1/trusts/{trust_id}/shared-incidents``: incidents other trusts reported that name this trust
among their employers, each showing only this trust's part (``domain/shared_incidents.py``).

Read-only, for the trust's RP leads, admins and auditors. Another trust's path answers 404, as
every trust path does; an incident that does not name the trust, or is the trust's own (it has the
full incident), answers 404 too.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from sievert_reporting.adapters.read_model import shared_incident, shared_incidents
from sievert_reporting.domain.shared_incidents import shared_incident_view
from sievert_reporting.entrypoints.deps import Pool, Reader, TrustPath, trust_of_path
from sievert_shared.errors import NotFoundError

router = APIRouter(prefix="/v1/trusts/{trust_id}/shared-incidents")


class SharedIncidentNotFoundError(NotFoundError):
    def __init__(self, incident_id: uuid.UUID) -> None:
        super().__init__(f"no incident {incident_id} shared with this trust")


@router.get("")
async def list_shared_incidents(
    trust_id: TrustPath,
    caller: Reader,
    pool: Pool,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    """Other trusts' incidents naming this trust as an employer, newest discovery first."""
    trust = trust_of_path(trust_id, caller)
    async with pool.acquire() as conn:
        rows = await shared_incidents(conn, trust, limit=limit)
    items = [view for row in rows if (view := shared_incident_view(trust, row)) is not None]
    return JSONResponse({"trust": trust, "items": items})


@router.get("/{incident_id}", responses={404: {}})
async def get_shared_incident(
    trust_id: TrustPath, incident_id: uuid.UUID, caller: Reader, pool: Pool
) -> JSONResponse:
    """This trust's part of one incident another trust reported."""
    trust = trust_of_path(trust_id, caller)
    async with pool.acquire() as conn:
        row = await shared_incident(conn, trust, incident_id)
    view = shared_incident_view(trust, row) if row is not None else None
    if view is None:
        raise SharedIncidentNotFoundError(incident_id)
    return JSONResponse(view)
