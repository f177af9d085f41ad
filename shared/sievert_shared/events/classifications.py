"""Events the classifier emits (topic: ``Topics.classifications``)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import Field

from sievert_shared.decision import ClassificationDecision
from sievert_shared.events.registry import Event


class IncidentClassified(Event):
    """The first decision on an incident: notifiable or not, under which codes, to whom, and why."""

    event_type: ClassVar[str] = "IncidentClassified"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "classifications"

    decision: ClassificationDecision
    discovered_on: dt.date = Field(description="Discovery date the deadlines are counted from.")
    facts_version: int = Field(ge=1, description="Intake stream version of the facts that were classified.")


class IncidentReclassified(Event):
    """Amended facts changed the decision or the discovery date."""

    event_type: ClassVar[str] = "IncidentReclassified"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "classifications"

    decision: ClassificationDecision
    discovered_on: dt.date
    facts_version: int = Field(ge=1)
    previous_notifiable: bool
    previous_codes: list[str]
    previous_discovered_on: dt.date
    changes: list[str] = Field(description="Human-readable list of what changed, e.g. 'codes: [] -> [2.2]'.")
