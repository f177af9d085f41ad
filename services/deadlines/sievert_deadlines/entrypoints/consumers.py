"""What the deadlines consumer does with each event it reads: classifications open, move or
cancel windows; submissions and the local investigation's close-out meet them; the authority's
correspondence and closure, and the investigation's reopening, move the case. Intake's facts
give the modality that sets how long a closed case is kept. The service applies each inside the
consumer's transaction."""

from __future__ import annotations

from sievert_deadlines.application import DeadlinesService
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
)
from sievert_shared.handlers import EventHandlers


def consumer_handlers(service: DeadlinesService) -> EventHandlers:
    handlers = EventHandlers()
    handlers.add(IncidentClassified, service.on_classification)
    handlers.add(IncidentReclassified, service.on_classification)
    handlers.add(NotificationSubmitted, service.on_submission)
    handlers.add(InvestigationReportSubmitted, service.on_submission)
    handlers.add(IncidentReported, service.on_incident_facts)
    handlers.add(IncidentFactsAmended, service.on_incident_facts)
    handlers.add(LocalInvestigationClosed, service.on_local_investigation_closed)
    handlers.add(LocalInvestigationReopened, service.on_local_investigation_reopened)
    handlers.add(AuthorityClosedCase, service.on_authority_closed)
    handlers.add(AuthorityQueryReceived, service.on_authority_query)
    handlers.add(AuthorityQueryAnswered, service.on_authority_query)
    return handlers
