"""Every event type Sievert publishes, registered once.

Import payload classes from here; ``REGISTRY`` decodes envelopes into them.
"""

from sievert_shared.events.classifications import IncidentClassified, IncidentReclassified
from sievert_shared.events.deadlines import (
    DeadlineApproaching,
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineMissed,
    DeadlineOverdue,
    DeadlineScheduled,
    Window,
)
from sievert_shared.events.incidents import IncidentFactsAmended, IncidentReported
from sievert_shared.events.registry import (
    Event,
    EventRegistry,
    UndecodableEventError,
    UnknownEventError,
)
from sievert_shared.events.reporting import (
    DeadlineCountsChanged,
    IncidentLinkedToTheme,
    InvestigationFindingsRecorded,
    SubmissionAcknowledged,
    SubmissionDrafted,
    SubmissionIssued,
    SubmissionStatusChanged,
    ThemeIndividualsCounted,
    ThemeOpened,
    ThemeShared,
    ThemeUpdated,
)
from sievert_shared.events.submissions import InvestigationReportSubmitted, NotificationSubmitted

ALL_EVENTS: tuple[type[Event], ...] = (
    IncidentReported,
    IncidentFactsAmended,
    IncidentClassified,
    IncidentReclassified,
    DeadlineScheduled,
    DeadlineApproaching,
    DeadlineMissed,
    DeadlineOverdue,
    DeadlineMet,
    DeadlineExtended,
    DeadlineCancelled,
    NotificationSubmitted,
    InvestigationReportSubmitted,
    SubmissionDrafted,
    InvestigationFindingsRecorded,
    SubmissionIssued,
    SubmissionAcknowledged,
    ThemeOpened,
    IncidentLinkedToTheme,
    ThemeIndividualsCounted,
    ThemeShared,
    SubmissionStatusChanged,
    DeadlineCountsChanged,
    ThemeUpdated,
)

REGISTRY = EventRegistry()
for _model in ALL_EVENTS:
    REGISTRY.register(_model)

__all__ = [
    "ALL_EVENTS",
    "REGISTRY",
    "DeadlineApproaching",
    "DeadlineCancelled",
    "DeadlineCountsChanged",
    "DeadlineExtended",
    "DeadlineMet",
    "DeadlineMissed",
    "DeadlineOverdue",
    "DeadlineScheduled",
    "Event",
    "EventRegistry",
    "IncidentClassified",
    "IncidentFactsAmended",
    "IncidentLinkedToTheme",
    "IncidentReclassified",
    "IncidentReported",
    "InvestigationFindingsRecorded",
    "InvestigationReportSubmitted",
    "NotificationSubmitted",
    "SubmissionAcknowledged",
    "SubmissionDrafted",
    "SubmissionIssued",
    "SubmissionStatusChanged",
    "ThemeIndividualsCounted",
    "ThemeOpened",
    "ThemeShared",
    "ThemeUpdated",
    "UndecodableEventError",
    "UnknownEventError",
    "Window",
]
