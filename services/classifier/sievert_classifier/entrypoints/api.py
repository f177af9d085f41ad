"""The classifier's HTTP API: a dry run, and health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI

from sievert_classifier.domain import classify
from sievert_shared.auth import Authenticator, Principal, Role, install_auth, require
from sievert_shared.decision import ClassificationDecision
from sievert_shared.facts import IncidentFacts
from sievert_shared.runtime import ServiceRuntime, service_app

# The dry run holds no tenant data, but it is a tool for the people who decide (issue 8).
RpLead = Annotated[Principal, require(Role.RP_LEAD)]


def create_app(runtime: ServiceRuntime, authenticator: Authenticator | None = None) -> FastAPI:
    app = service_app(runtime, description="Applies the IR(ME)R notification criteria to incident facts.")
    # AUTH_* settings (shared by every service); tests swap app.state.authenticator.
    install_auth(
        app, authenticator or Authenticator.from_settings(None, environment=runtime.settings.environment)
    )
    router = APIRouter(prefix="/v1")

    @router.post("/classify")
    async def classify_dry_run(facts: IncidentFacts, _caller: RpLead) -> ClassificationDecision:
        """Decide without storing anything: facts in, decision with its reasons out."""
        return classify(facts)

    app.include_router(router)
    return app
