"""Events the classifier emits (topic: ``Topics.classifications``).

v2 of both events carries the decision with ``status``, the split of ``needs_facts`` into
``needs_facts_for_notification`` and ``needs_facts_for_routing``, ``licensing_breach``, and each
reason's ``needs_affect``. v1 events stay in the log and are read as v2 (``upcast_v1_to_v2``).

``theme_identified_on`` (added before v2 was released, so no new version): the day a thematic
review identified the theme, set when code M comes from the theme rather than the incident's own
individuals and the incident is notifiable only because of it (guidance line 278: "a theme has
been identified over a number of incidents"); the Regulation 8(4) windows then run from that day.
None otherwise, and when the theme's date is unknown (counted before themes carried it): the
windows run from discovery.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import Field

from sievert_shared.decision import ClassificationDecision, upcast_decision_v1
from sievert_shared.events.earlier_shapes import ClassificationDecisionV1
from sievert_shared.events.registry import Event


def _theme_identified_on_field() -> Any:
    """Both events carry the day alike: one definition keeps their contracts' words the same."""
    return Field(
        default=None,
        description=(
            "The day the thematic review that gives code M was identified (line 278), when M comes "
            "from a theme rather than the incident's own individuals; the Regulation 8(4) windows "
            "then count from it. null otherwise."
        ),
    )


class IncidentClassifiedV1(Event):
    """The first decision on an incident: notifiable or not, under which codes, to whom, and why."""

    event_type: ClassVar[str] = "IncidentClassified"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "classifications"

    decision: ClassificationDecisionV1
    discovered_on: dt.date = Field(description="Discovery date the deadlines are counted from.")
    facts_version: int = Field(ge=1, description="Intake stream version of the facts that were classified.")


class IncidentClassified(Event):
    """The first decision on an incident: notifiable, not notifiable or undecided, under which
    codes, to whom, what is still open, and why."""

    event_type: ClassVar[str] = "IncidentClassified"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "classifications"

    decision: ClassificationDecision
    discovered_on: dt.date = Field(description="Discovery date the deadlines are counted from.")
    facts_version: int = Field(ge=1, description="Intake stream version of the facts that were classified.")
    theme_identified_on: dt.date | None = _theme_identified_on_field()


class IncidentReclassifiedV1(Event):
    """Amended facts changed the decision or the discovery date."""

    event_type: ClassVar[str] = "IncidentReclassified"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "classifications"

    decision: ClassificationDecisionV1
    discovered_on: dt.date
    facts_version: int = Field(ge=1)
    previous_notifiable: bool
    previous_codes: list[str]
    previous_discovered_on: dt.date
    changes: list[str] = Field(description="Human-readable list of what changed, e.g. 'codes: [] -> [2.2]'.")


class IncidentReclassified(Event):
    """Amended facts changed the decision or the discovery date."""

    event_type: ClassVar[str] = "IncidentReclassified"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "classifications"

    decision: ClassificationDecision
    discovered_on: dt.date
    facts_version: int = Field(ge=1)
    previous_notifiable: bool
    previous_codes: list[str]
    previous_discovered_on: dt.date
    changes: list[str] = Field(description="Human-readable list of what changed, e.g. 'codes: [] -> [2.2]'.")
    theme_identified_on: dt.date | None = _theme_identified_on_field()


def upcast_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 of either event -> v2: the decision read conservatively (``upcast_decision_v1``).

    v1 did not say what a missing fact could change, so every v1 ``needs_facts`` entry is counted
    in ``needs_facts_for_notification`` and none in ``needs_facts_for_routing``; a v1 decision not
    notifiable with facts missing is ``undecided``, one with none missing ``not_notifiable``.
    """
    return {**payload, "decision": upcast_decision_v1(payload["decision"])}
