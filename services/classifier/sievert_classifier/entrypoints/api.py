"""The classifier's HTTP API: a dry run, and health."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from sievert_classifier.domain import classify
from sievert_shared.decision import ClassificationDecision
from sievert_shared.facts import IncidentFacts
from sievert_shared.runtime import ServiceRuntime, service_app


def create_app(runtime: ServiceRuntime) -> FastAPI:
    app = service_app(runtime, description="Applies the IR(ME)R notification criteria to incident facts.")
    router = APIRouter(prefix="/v1")

    @router.post("/classify")
    async def classify_dry_run(facts: IncidentFacts) -> ClassificationDecision:
        """Decide without storing anything: facts in, decision with its reasons out."""
        return classify(facts)

    app.include_router(router)
    return app
