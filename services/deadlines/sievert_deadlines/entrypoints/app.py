"""The deadlines service's HTTP API: one router per resource, included here."""

from __future__ import annotations

from fastapi import FastAPI

from sievert_deadlines.entrypoints.deadlines import deadlines_router
from sievert_deadlines.entrypoints.incidents import incidents_router
from sievert_deadlines.entrypoints.tasks import tasks_router
from sievert_deadlines.entrypoints.trust_policy import trust_policy_router
from sievert_deadlines.entrypoints.withdrawal import withdrawal_router
from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.service_layer.tasks import TasksService
from sievert_shared.auth import Authenticator, install_auth
from sievert_shared.runtime import ServiceRuntime, service_app


def create_app(
    runtime: ServiceRuntime, service: DeadlinesService, authenticator: Authenticator, tasks: TasksService
) -> FastAPI:
    app = service_app(
        runtime,
        description="Regulation 8 windows: notification (2 weeks), investigation report (12 weeks), local.",
    )
    install_auth(app, authenticator)  # tests swap app.state.authenticator
    app.state.deadlines_service = service  # read by dependencies.get_service
    app.state.tasks_service = tasks  # read by tasks.get_tasks_service
    app.include_router(deadlines_router)
    app.include_router(incidents_router)
    app.include_router(trust_policy_router)
    app.include_router(tasks_router)
    app.include_router(withdrawal_router)
    return app
