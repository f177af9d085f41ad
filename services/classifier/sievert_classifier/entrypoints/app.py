"""The classifier's HTTP API: a dry run, and health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI

from sievert_classifier.domain import classify
from sievert_shared.auth import Authenticator, Principal, Role, install_auth, require
from sievert_shared.decision import ClassificationDecision
from sievert_shared.facts import IncidentFacts
from sievert_shared.runtime import ServiceRuntime, service_app

# The dry run holds no tenant data, but its answers read as the trust's decision on an incident,
# so only the people who make that decision may ask for one.
RpLead = Annotated[Principal, require(Role.RP_LEAD)]

classify_router = APIRouter(prefix="/v1")


@classify_router.post("/classify")
async def classify_dry_run(facts: IncidentFacts, _caller: RpLead) -> ClassificationDecision:
    """Decide without storing anything: facts in, decision with its reasons out."""
    return classify(facts)


def create_app(runtime: ServiceRuntime, authenticator: Authenticator) -> FastAPI:
    app = service_app(runtime, description="Applies the IR(ME)R notification criteria to incident facts.")
    install_auth(app, authenticator)  # tests swap app.state.authenticator
    app.include_router(classify_router)
    return app
