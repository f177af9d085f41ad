"""Trust administration over HTTP: sites, integration clients and their change log.

Only a trust admin changes them, and only for their own trust; an auditor may read them. Another
trust's path answers 404, as if it did not exist, so trust codes cannot be probed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sievert_intake.adapters.trust_admin import Change
from sievert_intake.entrypoints.deps import (
    AdministrationDep,
    AdminReader,
    ClientsDep,
    CorrelationIdDep,
    SiteOwnersDep,
    TrustAdmin,
)
from sievert_shared.auth import Principal
from sievert_shared.envelope import SiteId, TrustId
from sievert_shared.errors import NotFoundError
from sievert_shared.facts import Nation

router = APIRouter(prefix="/v1/trusts/{trust}", tags=["trust administration"])


class SiteRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="The site's name, e.g. 'St Elsewhere's'.")
    nation: Nation = Field(description="Picks the enforcing authority for the site's incidents.")


class ClientRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Which engine this is, for people.")
    sites: list[SiteId] = Field(min_length=1, max_length=200, description="Registered sites it posts for.")


def _own(caller: Principal, trust: str) -> None:
    if not caller.sees(trust):
        raise NotFoundError(f"no trust {trust}")


@router.put("/sites/{site}", responses={201: {}, 404: {}, 409: {}, 422: {}})
async def register_site(
    trust: TrustId,
    site: SiteId,
    body: SiteRegistration,
    caller: TrustAdmin,
    admin: AdministrationDep,
    owners: SiteOwnersDep,
    correlation_id: CorrelationIdDep,
) -> JSONResponse:
    """Register a site of the trust, or change its name or nation."""
    _own(caller, trust)
    registered, created = await admin.register_site(
        trust, site, body.name, body.nation, Change(caller.subject, correlation_id)
    )
    owners.forget(site)
    return JSONResponse(registered.public(), status_code=201 if created else 200)


@router.get("/sites", responses={404: {}})
async def list_sites(trust: TrustId, caller: AdminReader, admin: AdministrationDep) -> JSONResponse:
    _own(caller, trust)
    return JSONResponse({"sites": [site.public() for site in await admin.sites(trust)]})


@router.post("/clients", status_code=201, responses={404: {}, 422: {}})
async def create_client(
    trust: TrustId,
    body: ClientRegistration,
    caller: TrustAdmin,
    admin: AdministrationDep,
    correlation_id: CorrelationIdDep,
) -> JSONResponse:
    """Make an integration client bound to some of the trust's registered sites. The answer
    holds its API key, once: only a hash of it is kept."""
    _own(caller, trust)
    client, api_key = await admin.create_client(
        trust, body.name, body.sites, Change(caller.subject, correlation_id)
    )
    return JSONResponse(
        {**client.public(), "api_key": api_key},
        status_code=201,
        headers={"Cache-Control": "no-store", "Location": f"/v1/trusts/{trust}/clients/{client.key_id}"},
    )


@router.get("/clients", responses={404: {}})
async def list_clients(trust: TrustId, caller: AdminReader, admin: AdministrationDep) -> JSONResponse:
    _own(caller, trust)
    return JSONResponse({"clients": [client.public() for client in await admin.clients(trust)]})


@router.delete("/clients/{key_id}", status_code=204, responses={404: {}})
async def revoke_client(
    trust: TrustId,
    key_id: str,
    caller: TrustAdmin,
    admin: AdministrationDep,
    clients: ClientsDep,
    correlation_id: CorrelationIdDep,
) -> Response:
    """Revoke a client: its key is refused from now on (within seconds on other replicas)."""
    _own(caller, trust)
    if await admin.revoke_client(trust, key_id, Change(caller.subject, correlation_id)) is None:
        raise NotFoundError(f"trust {trust} has no client {key_id}")
    clients.forget(key_id)
    return Response(status_code=204)


@router.get("/admin-log", responses={404: {}})
async def admin_log(
    trust: TrustId,
    caller: AdminReader,
    admin: AdministrationDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    """Who registered sites and made or revoked clients, newest first. Append-only."""
    _own(caller, trust)
    return JSONResponse({"entries": await admin.log(trust, limit=limit)})
