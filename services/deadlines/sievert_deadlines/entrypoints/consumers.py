"""What the deadlines consumer does with each event it reads: classifications open, move or
cancel windows and then people's tasks; submissions and the local investigation's close-out meet
windows; the authority's correspondence and closure, and the investigation's reopening, move the
case; reporting's confirmation of similar incidents completes that task. Intake's facts give the
modality that sets how long a closed case is kept. The services apply each inside the consumer's
transaction (the tasks that follow the report window are moved by the windows' own events, in the
same transaction: ``DeadlinesService`` tells ``TasksService``)."""

from __future__ import annotations

from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.service_layer.tasks import TasksService
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    AuthorityClosedCase,
    AuthorityQueryAnswered,
    AuthorityQueryReceived,
    IncidentClassified,
    IncidentFactsAmended,
    IncidentReclassified,
    IncidentReported,
    InvestigationReportSubmitted,
    LocalInvestigationClosed,
    LocalInvestigationReopened,
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
    handlers.add(IncidentReported, service.on_incident_facts)
    handlers.add(IncidentFactsAmended, service.on_incident_facts)
    handlers.add(LocalInvestigationClosed, service.on_local_investigation_closed)
    handlers.add(LocalInvestigationReopened, service.on_local_investigation_reopened)
    handlers.add(AuthorityClosedCase, service.on_authority_closed)
    handlers.add(AuthorityQueryReceived, service.on_authority_query)
    handlers.add(AuthorityQueryAnswered, service.on_authority_query)
    handlers.add(SimilarIncidentsConfirmed, tasks.on_similar_incidents_confirmed)
    return handlers
