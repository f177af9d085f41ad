"""How one event changes an incident's row of the read model: written once, used by the live
consumer (load the row, apply, store) and by a replay (fold in memory, then COPY).

An incident's facts, decision and deadline windows arrive on three topics with no order between
them, so each event owns its columns, and a guard keeps a late, older event from overwriting a
newer one: facts go by the stream version (the higher wins), a decision by the facts version it
decided on (equal or higher wins: a re-classification on the same facts replaces the decision),
and each deadline window by the stream version of its own last event (the higher wins).

Pure: the change is read from the event models here (``incident_change``); the replay's fast
decoder (``adapters.replay_decode``) builds the same records from raw bytes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import msgspec

from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineMissed,
    DeadlineScheduled,
    Event,
    IncidentClassified,
    IncidentFactsAmended,
    IncidentReclassified,
    IncidentReported,
)

FactsEvent = IncidentReported | IncidentFactsAmended
DecisionEvent = IncidentClassified | IncidentReclassified
DeadlineEvent = DeadlineScheduled | DeadlineExtended | DeadlineMissed | DeadlineMet | DeadlineCancelled
IncidentEvent = FactsEvent | DecisionEvent | DeadlineEvent

FACTS_EVENTS = (IncidentReported.event_type, IncidentFactsAmended.event_type)
DECISION_EVENTS = (IncidentClassified.event_type, IncidentReclassified.event_type)
#: The status a deadline event leaves its window in.
DEADLINE_STATUS = {
    DeadlineScheduled.event_type: "open",
    DeadlineExtended.event_type: "open",
    DeadlineMissed.event_type: "missed",
    DeadlineMet.event_type: "met",
    DeadlineCancelled.event_type: "cancelled",
}
#: Every event that changes an incident's row (nearly all of a real log).
INCIDENT_ROW_EVENTS = frozenset((*FACTS_EVENTS, *DECISION_EVENTS, *DEADLINE_STATUS))

_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class FactsPart:
    nation: str
    modality: str
    exposure_kind: str
    discovered_on: dt.date
    occurred_on: dt.date | None
    #: ``facts.model_dump(mode="json", exclude_none=True)``, as JSON
    json: bytes


@dataclass(slots=True)
class DecisionPart:
    facts_version: int
    notifiable: bool
    codes: list[str]
    authority: str
    csaue: bool
    ruleset: str
    #: ``{**decision.model_dump(mode="json"), "facts_version": ...}``, as JSON
    json: bytes


@dataclass(slots=True)
class DeadlinePart:
    window: str
    due_at: str  # isoformat
    status: str
    #: what the clock's own events say of its timeliness: the day it counts from (scheduled),
    #: when it was met and how many days late against the due that binds (met). None: not said.
    clock_from: str | None = None  # isoformat
    met_at: str | None = None  # isoformat
    days_late: int | None = None

    def details(self) -> dict[str, str | int]:
        """The timeliness this event states, kept with the window until a later event restates it."""
        named = (("clock_from", self.clock_from), ("met_at", self.met_at), ("days_late", self.days_late))
        return {name: value for name, value in named if value is not None}


@dataclass(slots=True)
class IncidentChange:
    """What one event changes in its incident's row, with what the guards and the row need."""

    event_id: uuid.UUID
    event_type: str
    stream_id: uuid.UUID
    stream_version: int
    recorded_at: dt.datetime
    trust: str
    site: str
    part: FactsPart | DecisionPart | DeadlinePart


@dataclass(slots=True)
class IncidentRow:
    """One incident's row: the versions it holds (stored or not), for the guards, and what was
    applied since it was last stored (None, or empty: nothing of that part to store)."""

    incident_id: uuid.UUID
    trust: str
    site: str
    facts_version: int = 0
    #: the facts version the stored decision was made on; None: no decision yet
    decision_version: int | None = None
    #: window -> stream version of its last event
    deadline_versions: dict[str, int] = field(default_factory=dict)
    has_reported_at: bool = False
    # applied, not stored yet:
    facts: FactsPart | None = None
    reported_at: dt.datetime | None = None
    decision: DecisionPart | None = None
    #: window -> (due_at, status, stream_version)
    deadlines: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    #: window -> its timeliness as the events applied since stored say it (merged, latest wins)
    deadline_details: dict[str, dict[str, str | int]] = field(default_factory=dict)
    #: ``recorded_at`` of the last event applied (the row's ``updated_at``); None: nothing applied
    last_at: dt.datetime | None = None

    def stored(self) -> None:
        """What was applied is stored now: keep only the versions, for the guards."""
        self.facts = self.decision = self.reported_at = self.last_at = None
        self.deadlines = {}
        self.deadline_details = {}


def apply_change(row: IncidentRow, change: IncidentChange) -> bool:
    """Apply ``change`` to ``row`` unless a guard refuses it (an older event arriving late);
    True if applied."""
    part = change.part
    if isinstance(part, FactsPart):
        if change.stream_version <= row.facts_version:
            return False
        row.facts_version, row.facts = change.stream_version, part
        # the first report stamps the row; an amendment, or a repeat, does not move it
        if change.event_type == IncidentReported.event_type and not row.has_reported_at:
            row.reported_at, row.has_reported_at = change.recorded_at, True
    elif isinstance(part, DecisionPart):
        if row.decision_version is not None and part.facts_version < row.decision_version:
            return False
        row.decision_version, row.decision = part.facts_version, part
    else:
        if row.deadline_versions.get(part.window, 0) >= change.stream_version:
            return False
        row.deadline_versions[part.window] = change.stream_version
        row.deadlines[part.window] = (part.due_at, part.status, change.stream_version)
        if details := part.details():
            row.deadline_details[part.window] = {**row.deadline_details.get(part.window, {}), **details}
    row.last_at = change.recorded_at
    return True


def incident_change(envelope: EventEnvelope, event: Event) -> IncidentChange:
    """The change a decoded event (one of ``INCIDENT_ROW_EVENTS``) makes to its incident's row."""
    part: FactsPart | DecisionPart | DeadlinePart
    if isinstance(event, IncidentReported | IncidentFactsAmended):
        facts = event.facts
        part = FactsPart(
            facts.nation.value,
            facts.modality.value,
            facts.exposure_kind.value,
            facts.discovered_on,
            facts.occurred_on,
            _encode(facts.model_dump(mode="json", exclude_none=True)),
        )
    elif isinstance(event, IncidentClassified | IncidentReclassified):
        decision = event.decision
        part = DecisionPart(
            event.facts_version,
            decision.notifiable,
            list(decision.codes),
            decision.authority.value,
            decision.csaue,
            decision.ruleset,
            _encode({**decision.model_dump(mode="json"), "facts_version": event.facts_version}),
        )
    else:
        assert isinstance(event, DeadlineEvent), event.event_type
        part = DeadlinePart(
            event.window.value,
            event.due_at.isoformat(),
            DEADLINE_STATUS[event.event_type],
            # a window without its own day counts from discovery (the event's own reading)
            clock_from=(event.clock_from or event.discovered_on).isoformat()
            if isinstance(event, DeadlineScheduled)
            else None,
            met_at=event.met_at.isoformat() if isinstance(event, DeadlineMet) else None,
            days_late=event.days_late if isinstance(event, DeadlineMet) else None,
        )
    return IncidentChange(
        envelope.event_id,
        envelope.event_type,
        envelope.stream_id,
        envelope.stream_version,
        envelope.recorded_at,
        envelope.tenant.trust,
        envelope.tenant.site,
        part,
    )
