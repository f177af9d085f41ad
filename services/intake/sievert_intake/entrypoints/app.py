"""Intake's HTTP application: the routers, included in one place."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from sievert_intake.entrypoints import (
    amendments,
    batch,
    dose_records,
    fhir,
    incidents,
    patients,
    trust_admin,
)
from sievert_intake.entrypoints.deps import Components
from sievert_shared.auth import Authenticator, install_auth
from sievert_shared.http import BodySizeLimit
from sievert_shared.runtime import ServiceRuntime, service_app


def create_app(
    runtime: ServiceRuntime,
    components: Components,
    *,
    authenticator: Authenticator,
    max_body_bytes: int,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    app = service_app(
        runtime, description="Receives IR(ME)R incident facts from hospital integration engines."
    )
    install_auth(app, authenticator)
    app.state.components = components
    app.state.client_directory = components.clients  # where sievert_shared.auth looks for them
    # Outermost: refuse before parsing (``body_limits``: the larger limit of a bulk route).
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, by_path=dict(body_limits or {}))
    app.include_router(trust_admin.router)
    app.include_router(batch.router)  # before incidents: its path is not an incident id
    app.include_router(incidents.router)
    app.include_router(amendments.router)
    app.include_router(patients.router)
    app.include_router(fhir.router)
    app.include_router(dose_records.router)
    return app
