"""What the deadlines consumer does with each event it reads: classifications open, move or
cancel windows and then people's tasks, submissions meet windows, and reporting's confirmation of
similar incidents completes that task. The services apply each inside the consumer's transaction
(the tasks that follow the report window are moved by the windows' own events, in the same
transaction: ``DeadlinesService`` tells ``TasksService``)."""

from __future__ import annotations

from sievert_deadlines.application import DeadlinesService
from sievert_deadlines.tasks_service import TasksService
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    IncidentClassified,
    IncidentReclassified,
    InvestigationReportSubmitted,
    NotificationSubmitted,
    SimilarIncidentsConfirmed,
)
from sievert_shared.handlers import EventHandlers


def consumer_handlers(service: DeadlinesService, tasks: TasksService) -> EventHandlers:
    handlers = EventHandlers()

    @handlers.on(IncidentClassified, IncidentReclassified)
    async def on_classification(
        conn: Connection, envelope: EventEnvelope, event: IncidentClassified | IncidentReclassified
    ) -> None:
        # Windows first (it locks the case's deadlines row), then the tasks under that lock.
        await service.on_classification(conn, envelope, event)
        await tasks.on_classification(conn, envelope, event)

    handlers.add(NotificationSubmitted, service.on_submission)
    handlers.add(InvestigationReportSubmitted, service.on_submission)
    handlers.add(SimilarIncidentsConfirmed, tasks.on_similar_incidents_confirmed)
    return handlers
