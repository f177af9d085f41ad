"""Reporting's FastAPI app: the routers, included here and nowhere else.

A new resource is a module of this package with its ``router`` (an ``APIRouter`` under ``/v1``,
its dependencies from ``deps``, errors raised as ``sievert_shared.errors``), added to ``ROUTERS``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from sievert_reporting.domain.submissions import SubmissionExistsError
from sievert_reporting.entrypoints import (
    analysis,
    authority,
    incidents,
    local_investigation,
    shared_incidents,
    similar_incidents,
    submissions,
    themes,
    trusts,
)
from sievert_reporting.service_layer.cases import CaseService
from sievert_reporting.service_layer.submissions import ReportingService
from sievert_reporting.service_layer.themes import ThemeService
from sievert_shared.auth import Authenticator, install_auth
from sievert_shared.http import problem_for
from sievert_shared.runtime import ServiceRuntime, service_app

ROUTERS: tuple[APIRouter, ...] = (
    incidents.router,
    local_investigation.router,
    authority.router,
    similar_incidents.router,
    submissions.router,
    trusts.router,
    analysis.router,
    themes.router,
    shared_incidents.router,
)


def create_app(
    runtime: ServiceRuntime,
    submissions_service: ReportingService,
    themes_service: ThemeService,
    cases_service: CaseService,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    app = service_app(
        runtime, description="Read models and regulator submissions projected from the event log."
    )
    # AUTH_* settings (shared by every service); tests swap app.state.authenticator.
    install_auth(
        app, authenticator or Authenticator.from_settings(None, environment=runtime.settings.environment)
    )
    app.state.submissions = submissions_service
    app.state.themes = themes_service
    app.state.cases = cases_service
    app.add_exception_handler(SubmissionExistsError, _points_at_the_first)
    for router in ROUTERS:
        app.include_router(router)
    return app


async def _points_at_the_first(_request: Request, exc: Exception) -> JSONResponse:
    """409 as every conflict, with the ``Location`` of the submission the incident already has."""
    assert isinstance(exc, SubmissionExistsError)
    refused = problem_for(exc)
    refused.headers["Location"] = exc.location
    return refused
