"""``/v1/themes``: thematic reviews across a trust's sites, and ``/v1/shared-themes``: what other,
consenting trusts shared of theirs."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_reporting.adapters.read_model import sites_of_other_trusts
from sievert_reporting.entrypoints.deps import (
    TRUST_PATTERN,
    Lead,
    OwnersDep,
    Pool,
    Reader,
    SharedReader,
    Themes,
    one_trust,
    refuse_sites_of_another_trust,
    refuse_unless_acts_for,
)
from sievert_reporting.entrypoints.schemas import ROLE
from sievert_shared.auth import Principal
from sievert_shared.door_dates import EventDate

router = APIRouter(prefix="/v1")


class ThemeOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(min_length=1, max_length=64, pattern=TRUST_PATTERN, description="The opening site.")
    title: str = Field(min_length=1, max_length=200, description="e.g. 'Hand-held dental units'.")
    description: str = Field(min_length=1, max_length=4000, description="Anonymised; no identifiers.")
    opened_by_role: str = ROLE
    identified_on: EventDate | None = Field(
        default=None,
        description="The day the theme was identified (code M's windows run from it); default: today.",
    )


class ThemeLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: uuid.UUID
    linked_by_role: str = ROLE


class ThemeUnlink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="Why; anonymised, no identifiers.")
    unlinked_by_role: str = ROLE


@router.post("/themes", status_code=201, responses={403: {}, 422: {}})
async def open_theme(body: ThemeOpen, caller: Lead, pool: Pool, service: Themes) -> JSONResponse:
    trust = one_trust(caller)
    refuse_unless_acts_for(caller, trust, body.site)
    async with pool.acquire() as conn:
        refuse_sites_of_another_trust(await sites_of_other_trusts(conn, trust, [body.site]))
    theme_id = await service.open(
        trust,
        site=body.site,
        title=body.title,
        description=body.description,
        opened_by_role=body.opened_by_role,
        identified_on=body.identified_on,
        actor=caller.subject,
    )
    created = JSONResponse(await service.view(trust, theme_id), status_code=201)
    created.headers["Location"] = f"/v1/themes/{theme_id}"
    return created


@router.get("/themes")
async def list_themes(caller: Reader, service: Themes) -> JSONResponse:
    trust = one_trust(caller)
    return JSONResponse({"items": await service.list_themes(trust)})


@router.get("/themes/{theme_id}", responses={404: {}})
async def get_theme(theme_id: uuid.UUID, caller: Reader, owners: OwnersDep, service: Themes) -> JSONResponse:
    """The theme across every site of the caller's trust: its incidents and counts per site."""
    trust = await owners.readable("themes", theme_id, caller)
    return JSONResponse(await service.view(trust, theme_id))


@router.post("/themes/{theme_id}/incidents", responses={404: {}, 422: {}})
async def link_incident(
    theme_id: uuid.UUID, body: ThemeLink, caller: Lead, owners: OwnersDep, service: Themes
) -> JSONResponse:
    trust = await owners.readable("themes", theme_id, caller)
    await _refuse_unless_acts_for_incident(owners, caller, body.incident_id)
    created = await service.link(
        trust, theme_id, body.incident_id, linked_by_role=body.linked_by_role, actor=caller.subject
    )
    return JSONResponse(await service.view(trust, theme_id), status_code=201 if created else 200)


@router.post("/themes/{theme_id}/incidents/{incident_id}/unlink", responses={404: {}, 422: {}})
async def unlink_incident(
    theme_id: uuid.UUID,
    incident_id: uuid.UUID,
    body: ThemeUnlink,
    caller: Lead,
    owners: OwnersDep,
    service: Themes,
) -> JSONResponse:
    """Take an incident out of the theme (``IncidentUnlinkedFromTheme``); the theme's counts
    fall, and below two individuals code M is taken off its incidents. 200 with the theme, also
    when the incident was not linked (nothing is emitted)."""
    trust = await owners.readable("themes", theme_id, caller)
    await _refuse_unless_acts_for_incident(owners, caller, incident_id)
    await service.unlink(
        trust,
        theme_id,
        incident_id,
        reason=body.reason,
        unlinked_by_role=body.unlinked_by_role,
        actor=caller.subject,
    )
    return JSONResponse(await service.view(trust, theme_id))


async def _refuse_unless_acts_for_incident(
    owners: OwnersDep, caller: Principal, incident_id: uuid.UUID
) -> None:
    """The incident is checked against the theme's trust by the service (404 otherwise); the
    caller must also act for the incident's site."""
    incident = await owners.visible("incidents", incident_id, caller)
    if incident is not None:
        refuse_unless_acts_for(caller, *incident)


@router.post("/themes/{theme_id}/share", status_code=202, responses={404: {}})
async def share_theme(theme_id: uuid.UUID, caller: Lead, owners: OwnersDep, service: Themes) -> JSONResponse:
    """Share the anonymised summary (counts, no incident ids) with consenting trusts."""
    trust = await owners.writable("themes", theme_id, caller)
    return JSONResponse(await service.share(trust, theme_id, actor=caller.subject), status_code=202)


@router.get("/shared-themes")
async def shared_themes(caller: SharedReader, service: Themes) -> JSONResponse:
    """Other trusts' shared theme summaries; empty unless the caller's trust consented."""
    consent, items = await service.shared_with(one_trust(caller))
    return JSONResponse({"consent": consent, "items": items})
