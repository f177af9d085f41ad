"""What the deadlines consumers do with each event they read: classifications open, move or
cancel windows, and submissions meet them; classifications, the report window's own events and
reporting's confirmations open, move, cancel and complete people's tasks. The services apply each
inside the consumer's transaction."""

from __future__ import annotations

from sievert_deadlines.application import DeadlinesService
from sievert_deadlines.tasks_service import TasksService
from sievert_shared.events import (
    DeadlineApproaching,
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineMissed,
    DeadlineScheduled,
    IncidentClassified,
    IncidentReclassified,
    InvestigationReportSubmitted,
    NotificationSubmitted,
    SimilarIncidentsConfirmed,
)
from sievert_shared.handlers import EventHandlers


def consumer_handlers(service: DeadlinesService) -> EventHandlers:
    handlers = EventHandlers()
    handlers.add(IncidentClassified, service.on_classification)
    handlers.add(IncidentReclassified, service.on_classification)
    handlers.add(NotificationSubmitted, service.on_submission)
    handlers.add(InvestigationReportSubmitted, service.on_submission)
    return handlers


def task_handlers(tasks: TasksService) -> EventHandlers:
    handlers = EventHandlers()
    handlers.add(IncidentClassified, tasks.on_classification)
    handlers.add(IncidentReclassified, tasks.on_classification)
    handlers.add(DeadlineScheduled, tasks.on_report_window)
    handlers.add(DeadlineExtended, tasks.on_report_window)
    handlers.add(DeadlineApproaching, tasks.on_report_window)
    handlers.add(DeadlineMissed, tasks.on_report_window)
    handlers.add(DeadlineMet, tasks.on_report_window)
    handlers.add(DeadlineCancelled, tasks.on_report_window)
    handlers.add(SimilarIncidentsConfirmed, tasks.on_similar_incidents_confirmed)
    return handlers
