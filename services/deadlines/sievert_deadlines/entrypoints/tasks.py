"""People's tasks on a case: ``/v1/incidents/{incident_id}/tasks…`` for one case, and ``/v1/tasks``
for the console's work queue. Assigning and completing for the RP lead and trust admins; reads for
them and auditors (who may act on a task may see it). Another trust's case answers 404."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_deadlines.adapters.tasks_store import TaskFilter
from sievert_deadlines.domain.tasks import Completion
from sievert_deadlines.entrypoints.deps import Actor, TaskReader
from sievert_deadlines.service_layer.tasks import NoTasksError, TasksService
from sievert_shared.auth import Principal
from sievert_shared.door_dates import EventDate
from sievert_shared.events import TaskKind

tasks_router = APIRouter(prefix="/v1")

_Role = Field(min_length=1, max_length=100, description="A staff role, never a name.")
_STEPS = 10


def get_tasks_service(request: Request) -> TasksService:
    """The tasks service the composition root gave ``create_app``."""
    service: TasksService = request.app.state.tasks_service
    return service


TasksDep = Annotated[TasksService, Depends(get_tasks_service)]


class TaskAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner_role: str = _Role
    assigned_by_role: str = _Role
    expected_version: int | None = Field(
        default=None, ge=1, description="The task's version as read; 409 with the current task if it moved."
    )


class TaskCompletion(BaseModel):
    """What was done, when and by whom (roles), or why a step was not taken where the law allows."""

    model_config = ConfigDict(extra="forbid")

    completed_by_role: str = _Role
    completed_on: EventDate | None = Field(default=None, description="Today (Europe/London) if not given.")
    outcome: str = Field(min_length=1, max_length=4000, description="What was done, anonymised.")
    steps: dict[str, EventDate] = Field(default_factory=dict, max_length=_STEPS)
    step_roles: dict[str, Annotated[str, _Role]] = Field(default_factory=dict, max_length=_STEPS)
    steps_not_taken: dict[str, Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=dict, max_length=_STEPS
    )

    def as_completion(self, today: dt.date) -> Completion:
        return Completion(
            completed_on=self.completed_on or today,
            completed_by_role=self.completed_by_role,
            outcome=self.outcome,
            steps=dict(self.steps),
            step_roles=dict(self.step_roles),
            steps_not_taken=dict(self.steps_not_taken),
        )


async def _require_sees(service: TasksService, incident_id: uuid.UUID, caller: Principal) -> None:
    if not caller.sees(await service.trust_of(incident_id)):
        raise NoTasksError(incident_id)


@tasks_router.get("/incidents/{incident_id}/tasks", responses={404: {}})
async def incident_tasks(incident_id: uuid.UUID, caller: TaskReader, service: TasksDep) -> JSONResponse:
    """The case's tasks, open and done, soonest due first: due, owner, steps."""
    await _require_sees(service, incident_id, caller)
    return JSONResponse({"incident_id": str(incident_id), "tasks": await service.incident_tasks(incident_id)})


@tasks_router.get("/tasks")
async def tasks(
    trust: Annotated[str | None, Query(max_length=64)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    status: TaskFilter | None = None,
    kind: TaskKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    *,
    caller: TaskReader,
    service: TasksDep,
) -> JSONResponse:
    """The work queue: tasks soonest due first (no due last). Only the caller's trust: another
    trust in ``trust=`` gives an empty list."""
    if not caller.every_trust:
        if trust is not None and not caller.sees(trust):
            return JSONResponse({"items": []})
        trust = caller.trust
    items = await service.list_tasks(trust=trust, site=site, status=status, kind=kind, limit=limit)
    return JSONResponse({"items": items})


@tasks_router.post("/incidents/{incident_id}/tasks/{task_id}/assign", responses={404: {}, 409: {}})
async def assign_task(
    incident_id: uuid.UUID, task_id: uuid.UUID, body: TaskAssignment, caller: Actor, service: TasksDep
) -> JSONResponse:
    await _require_sees(service, incident_id, caller)
    task = await service.assign(
        incident_id,
        task_id,
        owner_role=body.owner_role,
        assigned_by_role=body.assigned_by_role,
        expected_version=body.expected_version,
        actor=caller.subject,
    )
    return JSONResponse(task)


@tasks_router.post("/incidents/{incident_id}/tasks/{task_id}/complete", responses={404: {}, 409: {}, 422: {}})
async def complete_task(
    incident_id: uuid.UUID, task_id: uuid.UUID, body: TaskCompletion, caller: Actor, service: TasksDep
) -> JSONResponse:
    """Completing twice with the same record gives the same answer and one event; another record
    for a task already done is a 409 carrying the task as it stands."""
    await _require_sees(service, incident_id, caller)
    completion = body.as_completion(service.today())
    task = await service.complete(incident_id, task_id, completion, actor=caller.subject)
    return JSONResponse(task)
