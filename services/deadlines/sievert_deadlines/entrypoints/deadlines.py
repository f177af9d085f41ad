"""``/v1/deadlines``: windows across incidents, for the people who chase them and dashboards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from sievert_deadlines.adapters.queries import StatusFilter
from sievert_deadlines.entrypoints.deps import Reader, ServiceDep

deadlines_router = APIRouter(prefix="/v1")


@deadlines_router.get("/deadlines")
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
    service: ServiceDep,
) -> JSONResponse:
    """Windows, soonest due first, filtered by trust, site, status and window. Only the
    caller's trust: another trust in ``trust=`` gives an empty list."""
    if not caller.every_trust:
        if trust is not None and not caller.sees(trust):
            return JSONResponse({"items": []})
        trust = caller.trust
    items = await service.list_windows(
        trust=trust, site=site, status=status, window=window, due_soon_days=due_soon_days, limit=limit
    )
    return JSONResponse({"items": items})
