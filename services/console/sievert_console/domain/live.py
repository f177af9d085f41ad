"""Which parts of open pages an event changes.

The console subscribes to the topics listed in ``LIVE_TOPICS`` and turns each envelope into a
``Change``: the trust it belongs to (a page only ever hears of its own person's trust) and the
names of the server-sent events to push. A page's fragments listen for those names and fetch
themselves again through the APIs, with the person's token, so a live update shows exactly what
the person may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sievert_shared.topics import Topics

QUEUE = "queue"
THEMES = "themes"


def incident_signal(incident_id: str) -> str:
    return f"incident-{incident_id}"


def live_topics(topics: Topics) -> list[str]:
    """Intake's facts (an incident's facts and history), the classifier's decisions, the
    deadlines service's windows, the case's life (the local investigation, the authority's
    correspondence, withdrawal, closure: reporting's and deadlines' events on the cases topic),
    and reporting's dashboard (deadline counts once projected, submission status, themes)."""
    return [topics.incidents, topics.classifications, topics.deadlines, topics.cases, topics.dashboard]


_CLASSIFICATIONS = frozenset({"IncidentClassified", "IncidentReclassified"})
_TRUST_WIDE = frozenset({"DeadlineCountsChanged"})
_THEMES = frozenset({"ThemeUpdated"})
#: The cases topic's events that change what an incident's page or the queue shows (a
#: similar-incidents confirmation changes a draft's missing items and completes a task).
_CASE_EVENTS = frozenset(
    {
        "LocalInvestigationOwnerAssigned",
        "LocalInvestigationClosed",
        "LocalInvestigationReopened",
        "SimilarIncidentsConfirmed",
        "AuthorityQueryReceived",
        "AuthorityQueryAnswered",
        "AuthorityClosedCase",
        "NotificationWithdrawalRequested",
        "NotificationWithdrawalAgreed",
        "CaseClosed",
        "CaseReopened",
        "CaseRetentionExpired",
        "TaskOpened",
        "TaskAssigned",
        "TaskApproaching",
        "TaskOverdue",
        "TaskCompleted",
        "TaskCancelled",
    }
)


@dataclass(frozen=True)
class Change:
    trust: str
    event_type: str
    incident_id: str | None
    signals: tuple[str, ...]
    #: For a decision: the facts version reporting must have projected before a page re-reads
    #: it, since the page reads decisions from reporting's read model, not from the topic.
    decision_facts_version: int | None = None
    #: For facts: the version reporting must have projected before a page re-reads what it
    #: derives from them (a draft's missing items), since reporting consumes them as the console does.
    facts_version: int | None = None


def change_of(
    event_type: str, trust: str, stream_id: str, payload: dict[str, Any], stream_version: int | None = None
) -> Change | None:
    """The change an event makes to open pages, or None when it makes none."""
    if event_type in _TRUST_WIDE:
        return Change(trust, event_type, None, (QUEUE,))
    if event_type in _THEMES:
        return Change(trust, event_type, None, (THEMES,))
    if event_type in ("IncidentReported", "IncidentFactsAmended"):
        return Change(
            trust, event_type, stream_id, (incident_signal(stream_id),), facts_version=stream_version
        )
    if event_type in _CLASSIFICATIONS:
        version = payload.get("facts_version")
        return Change(
            trust,
            event_type,
            stream_id,
            (incident_signal(stream_id), QUEUE),
            decision_facts_version=version if isinstance(version, int) else None,
        )
    if (
        event_type.startswith("Deadline")
        or event_type in _CASE_EVENTS
        or event_type == "SubmissionStatusChanged"
    ):
        return Change(trust, event_type, stream_id, (incident_signal(stream_id), QUEUE))
    return None
