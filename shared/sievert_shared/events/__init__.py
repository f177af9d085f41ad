"""Every event type Sievert publishes, registered once.

Import payload classes from here; ``REGISTRY`` decodes envelopes into them.
"""

from sievert_shared.events.classifications import (
    IncidentClassified,
    IncidentClassifiedV1,
    IncidentReclassified,
    IncidentReclassifiedV1,
)
from sievert_shared.events.classifications import upcast_v1_to_v2 as upcast_decision_v1_to_v2
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
from sievert_shared.events.incidents import (
    IncidentFactsAmended,
    IncidentFactsAmendedV1,
    IncidentFactsAmendedV2,
    IncidentReported,
    IncidentReportedV1,
    IncidentReportedV2,
    upcast_v1_to_v2,
    upcast_v2_to_v3,
)
from sievert_shared.events.registry import (
    Event,
    EventRegistry,
    UndecodableEventError,
    UnknownEventError,
)
from sievert_shared.events.reporting import (
    DeadlineCountsChanged,
    IncidentLinkedToTheme,
    IncidentUnlinkedFromTheme,
    InvestigationFindingsRecorded,
    SubmissionAcknowledged,
    SubmissionDrafted,
    SubmissionIssued,
    SubmissionStatusChanged,
    SubmissionStatusChangedV1,
    ThemeIndividualsCounted,
    ThemeOpened,
    ThemeShared,
    ThemeUpdated,
    upcast_status_changed_v1_to_v2,
)
from sievert_shared.events.submissions import (
    InvestigationReportSubmitted,
    InvestigationReportSubmittedV1,
    NotificationSubmitted,
    NotificationSubmittedV1,
    upcast_submitted_v1_to_v2,
)

#: Every version of every event: earlier versions stay in the log (and in contracts/), and are read
#: as the current one through the upcasters registered below.
ALL_EVENTS: tuple[type[Event], ...] = (
    IncidentReportedV1,
    IncidentReportedV2,
    IncidentReported,
    IncidentFactsAmendedV1,
    IncidentFactsAmendedV2,
    IncidentFactsAmended,
    IncidentClassifiedV1,
    IncidentClassified,
    IncidentReclassifiedV1,
    IncidentReclassified,
    DeadlineScheduled,
    DeadlineApproaching,
    DeadlineMissed,
    DeadlineOverdue,
    DeadlineMet,
    DeadlineExtended,
    DeadlineCancelled,
    NotificationSubmittedV1,
    NotificationSubmitted,
    InvestigationReportSubmittedV1,
    InvestigationReportSubmitted,
    SubmissionDrafted,
    InvestigationFindingsRecorded,
    SubmissionIssued,
    SubmissionAcknowledged,
    ThemeOpened,
    IncidentLinkedToTheme,
    IncidentUnlinkedFromTheme,
    ThemeIndividualsCounted,
    ThemeShared,
    SubmissionStatusChangedV1,
    SubmissionStatusChanged,
    DeadlineCountsChanged,
    ThemeUpdated,
)

REGISTRY = EventRegistry()
for _model in ALL_EVENTS:
    REGISTRY.register(_model)
REGISTRY.register_upcaster(IncidentReported.event_type, 1, upcast_v1_to_v2)
REGISTRY.register_upcaster(IncidentFactsAmended.event_type, 1, upcast_v1_to_v2)
REGISTRY.register_upcaster(IncidentReported.event_type, 2, upcast_v2_to_v3)
REGISTRY.register_upcaster(IncidentFactsAmended.event_type, 2, upcast_v2_to_v3)
REGISTRY.register_upcaster(IncidentClassified.event_type, 1, upcast_decision_v1_to_v2)
REGISTRY.register_upcaster(IncidentReclassified.event_type, 1, upcast_decision_v1_to_v2)
REGISTRY.register_upcaster(NotificationSubmitted.event_type, 1, upcast_submitted_v1_to_v2)
REGISTRY.register_upcaster(InvestigationReportSubmitted.event_type, 1, upcast_submitted_v1_to_v2)
REGISTRY.register_upcaster(SubmissionStatusChanged.event_type, 1, upcast_status_changed_v1_to_v2)

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
    "IncidentClassifiedV1",
    "IncidentFactsAmended",
    "IncidentFactsAmendedV1",
    "IncidentFactsAmendedV2",
    "IncidentLinkedToTheme",
    "IncidentReclassified",
    "IncidentReclassifiedV1",
    "IncidentReported",
    "IncidentReportedV1",
    "IncidentReportedV2",
    "IncidentUnlinkedFromTheme",
    "InvestigationFindingsRecorded",
    "InvestigationReportSubmitted",
    "InvestigationReportSubmittedV1",
    "NotificationSubmitted",
    "NotificationSubmittedV1",
    "SubmissionAcknowledged",
    "SubmissionDrafted",
    "SubmissionIssued",
    "SubmissionStatusChanged",
    "SubmissionStatusChangedV1",
    "ThemeIndividualsCounted",
    "ThemeOpened",
    "ThemeShared",
    "ThemeUpdated",
    "UndecodableEventError",
    "UnknownEventError",
    "Window",
]
