"""Intake's HTTP application: the routers, included in one place."""

from __future__ import annotations

from fastapi import FastAPI

from sievert_intake.entrypoints import amendments, dose_records, fhir, incidents, patients, trust_admin
from sievert_intake.entrypoints.deps import Components
from sievert_shared.auth import Authenticator, install_auth
from sievert_shared.http import BodySizeLimit
from sievert_shared.runtime import ServiceRuntime, service_app


def create_app(
    runtime: ServiceRuntime, components: Components, *, authenticator: Authenticator, max_body_bytes: int
) -> FastAPI:
    app = service_app(
        runtime, description="Receives IR(ME)R incident facts from hospital integration engines."
    )
    install_auth(app, authenticator)
    app.state.components = components
    app.state.client_directory = components.clients  # where sievert_shared.auth looks for them
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)  # outermost: refuse before parsing
    app.include_router(trust_admin.router)
    app.include_router(incidents.router)
    app.include_router(amendments.router)
    app.include_router(patients.router)
    app.include_router(fhir.router)
    app.include_router(dose_records.router)
    return app
