"""Trust administration over HTTP: sites, integration clients and their change log (issue 8).

Only a trust admin changes them, and only for their own trust; an auditor may read them. Another
trust's path answers 404, as if it did not exist, so trust codes cannot be probed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sievert_intake.adapters.trust_admin import (
    Change,
    RegisteredClients,
    SiteOfAnotherTrustError,
    SiteOwners,
    TrustAdministration,
    UnregisteredSitesError,
)
from sievert_shared.auth import Principal, Role, require
from sievert_shared.envelope import SiteId, TrustId
from sievert_shared.facts import Nation
from sievert_shared.http import problem
from sievert_shared.runtime import ServiceRuntime

TrustAdmin = Annotated[Principal, require(Role.TRUST_ADMIN)]
AdminReader = Annotated[Principal, require(Role.TRUST_ADMIN, Role.AUDITOR)]


class SiteRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="The site's name, e.g. 'St Elsewhere's'.")
    nation: Nation = Field(description="Picks the enforcing authority for the site's incidents.")


class ClientRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Which engine this is, for people.")
    sites: list[SiteId] = Field(min_length=1, max_length=200, description="Registered sites it posts for.")


def _administration(request: Request) -> TrustAdministration:
    runtime: ServiceRuntime = request.app.state.runtime
    return TrustAdministration(runtime.pool, runtime.clock)


Administration = Annotated[TrustAdministration, Depends(_administration)]


def _change(request: Request, caller: Principal) -> Change:
    return Change(actor=caller.subject, correlation_id=request.state.correlation_id)


def _no_such_trust(trust: str) -> JSONResponse:
    return problem(404, "Not found", f"no trust {trust}")


def trust_admin_router() -> APIRouter:
    router = APIRouter(prefix="/v1/trusts/{trust}", tags=["trust administration"])

    @router.put("/sites/{site}", responses={201: {}, 404: {}, 409: {}, 422: {}})
    async def register_site(
        trust: TrustId,
        site: SiteId,
        body: SiteRegistration,
        caller: TrustAdmin,
        admin: Administration,
        request: Request,
    ) -> JSONResponse:
        """Register a site of the trust, or change its name or nation."""
        if not caller.sees(trust):
            return _no_such_trust(trust)
        try:
            registered, created = await admin.register_site(
                trust, site, body.name, body.nation, _change(request, caller)
            )
        except SiteOfAnotherTrustError:
            return problem(409, "Site of another trust", f"site code {site} is registered to another trust")
        owners: SiteOwners | None = getattr(request.app.state, "site_owners", None)
        if owners is not None:
            owners.forget(site)
        return JSONResponse(registered.public(), status_code=201 if created else 200)

    @router.get("/sites", responses={404: {}})
    async def list_sites(trust: TrustId, caller: AdminReader, admin: Administration) -> JSONResponse:
        if not caller.sees(trust):
            return _no_such_trust(trust)
        return JSONResponse({"sites": [site.public() for site in await admin.sites(trust)]})

    @router.post("/clients", status_code=201, responses={404: {}, 422: {}})
    async def create_client(
        trust: TrustId, body: ClientRegistration, caller: TrustAdmin, admin: Administration, request: Request
    ) -> JSONResponse:
        """Make an integration client bound to some of the trust's registered sites. The answer
        holds its API key, once: only a hash of it is kept."""
        if not caller.sees(trust):
            return _no_such_trust(trust)
        try:
            client, api_key = await admin.create_client(
                trust, body.name, body.sites, _change(request, caller)
            )
        except UnregisteredSitesError as exc:
            return problem(
                422,
                "Unregistered sites",
                f"register these sites of trust {trust} first (PUT /v1/trusts/{trust}/sites/{{site}}): "
                + ", ".join(exc.sites),
                errors=[
                    {"path": "sites", "message": f"{site} is not a registered site"} for site in exc.sites
                ],
            )
        response = JSONResponse(
            {**client.public(), "api_key": api_key}, status_code=201, headers={"Cache-Control": "no-store"}
        )
        response.headers["Location"] = f"/v1/trusts/{trust}/clients/{client.key_id}"
        return response

    @router.get("/clients", responses={404: {}})
    async def list_clients(trust: TrustId, caller: AdminReader, admin: Administration) -> JSONResponse:
        if not caller.sees(trust):
            return _no_such_trust(trust)
        return JSONResponse({"clients": [client.public() for client in await admin.clients(trust)]})

    @router.delete("/clients/{key_id}", status_code=204, responses={404: {}})
    async def revoke_client(
        trust: TrustId, key_id: str, caller: TrustAdmin, admin: Administration, request: Request
    ) -> Response:
        """Revoke a client: its key is refused from now on (within seconds on other replicas)."""
        if not caller.sees(trust):
            return _no_such_trust(trust)
        revoked = await admin.revoke_client(trust, key_id, _change(request, caller))
        if revoked is None:
            return problem(404, "Not found", f"trust {trust} has no client {key_id}")
        directory: RegisteredClients | None = getattr(request.app.state, "client_directory", None)
        if directory is not None:
            directory.forget(key_id)
        return Response(status_code=204)

    @router.get("/admin-log", responses={404: {}})
    async def admin_log(
        trust: TrustId,
        caller: AdminReader,
        admin: Administration,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JSONResponse:
        """Who registered sites and made or revoked clients, newest first. Append-only."""
        if not caller.sees(trust):
            return _no_such_trust(trust)
        return JSONResponse({"entries": await admin.log(trust, limit=limit)})

    return router
