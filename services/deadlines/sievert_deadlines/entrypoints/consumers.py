"""What the deadlines consumer does with each event it reads: classifications open, move or
cancel windows, and submissions meet them. The service applies each inside the consumer's
transaction."""

from __future__ import annotations

from sievert_deadlines.application import DeadlinesService
from sievert_shared.events import (
    IncidentClassified,
    IncidentReclassified,
    InvestigationReportSubmitted,
    NotificationSubmitted,
)
from sievert_shared.handlers import EventHandlers


def consumer_handlers(service: DeadlinesService) -> EventHandlers:
    handlers = EventHandlers()
    handlers.add(IncidentClassified, service.on_classification)
    handlers.add(IncidentReclassified, service.on_classification)
    handlers.add(NotificationSubmitted, service.on_submission)
    handlers.add(InvestigationReportSubmitted, service.on_submission)
    return handlers
