"""Events intake emits about incident facts (topic: ``Topics.incidents``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sievert_shared.events.registry import Event
from sievert_shared.facts import IncidentFacts

IntakeChannel = Literal["json", "hl7v2", "fhir"]


class IncidentReported(Event):
    """A hospital reported a new radiation incident. Carries no patient identifier."""

    event_type: ClassVar[str] = "IncidentReported"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "incidents"

    facts: IncidentFacts
    channel: IntakeChannel = Field(description="How the facts reached Sievert.")
    source_message_id: str | None = Field(
        default=None, max_length=128, description="The integration engine's message id, if it gave one."
    )


class IncidentFactsAmended(Event):
    """Facts about a known incident were corrected. ``facts`` is the complete corrected set."""

    event_type: ClassVar[str] = "IncidentFactsAmended"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "incidents"

    facts: IncidentFacts
    changed_fields: list[str] = Field(description="Top-level fact names whose value changed.")
    reason: str = Field(max_length=500, description="Why the facts changed, in the reporter's words.")
    channel: IntakeChannel = Field(description="How the correction reached Sievert.")
