"""Events intake emits about incident facts (topic: ``Topics.incidents``).

v2 of both events added ``patient_pseudonym``: the only trace of the patient that leaves intake.
v1 events stay in the log and are read as v2 with no pseudonym (``upcast_v1_to_v2``).

v3 of both events carries facts with more optional fields (radiotherapy doses in Gy, the anatomy
exposed, whether an equipment fault is thematic, a defective medicine, the equipment's maker and
model). Every v2 payload is a valid v3 payload, so the upcaster is the identity
(``upcast_v2_to_v3``); the bump says that the embedded facts' shape changed.

v4 of both events carries facts that may name the employers involved (``employers``: several IR(ME)R
employers, which one notifies). Every v3 payload is a valid v4 payload with none named, so the
upcaster is the identity again (``upcast_v3_to_v4``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from sievert_shared.events.earlier_shapes import IncidentFactsV2, IncidentFactsV3
from sievert_shared.events.registry import Event
from sievert_shared.facts import IncidentFacts

IntakeChannel = Literal["json", "hl7v2", "fhir"]

#: Intake's pseudonym of a patient: HMAC-SHA256 of trust and NHS (else hospital) number under a
#: key only intake holds, or random when neither number was sent. Never an identifier itself.
PSEUDONYM_PATTERN = r"^pt-[0-9a-f]{24}$"


def _pseudonym_field() -> Any:
    return Field(
        default=None,
        pattern=PSEUDONYM_PATTERN,
        description=(
            "Intake's pseudonym of the patient (HMAC of trust and NHS or hospital number under "
            "intake's key): links one patient's incidents within a trust without identifying them. "
            "null when no patient identifiers were sent."
        ),
    )


class IncidentReportedV1(Event):
    """A hospital reported a new radiation incident. Carries no patient identifier."""

    event_type: ClassVar[str] = "IncidentReported"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "incidents"

    facts: IncidentFactsV2
    channel: IntakeChannel = Field(description="How the facts reached Sievert.")
    source_message_id: str | None = Field(
        default=None, max_length=128, description="The integration engine's message id, if it gave one."
    )


class IncidentReportedV2(Event):
    """A hospital reported a new radiation incident: no patient identifier, only a pseudonym.

    v2 added ``patient_pseudonym``; v1 (before it) is read as v2 with none.
    """

    event_type: ClassVar[str] = "IncidentReported"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "incidents"

    facts: IncidentFactsV2
    channel: IntakeChannel = Field(description="How the facts reached Sievert.")
    source_message_id: str | None = Field(
        default=None, max_length=128, description="The integration engine's message id, if it gave one."
    )
    patient_pseudonym: str | None = _pseudonym_field()


class IncidentReportedV3(Event):
    """A hospital reported a new radiation incident: no patient identifier, only a pseudonym.

    v3 carries the facts with their fields added since v2; v2 and v1 are read as v3.
    """

    event_type: ClassVar[str] = "IncidentReported"
    schema_version: ClassVar[int] = 3
    topic: ClassVar[str] = "incidents"

    facts: IncidentFactsV3
    channel: IntakeChannel = Field(description="How the facts reached Sievert.")
    source_message_id: str | None = Field(
        default=None, max_length=128, description="The integration engine's message id, if it gave one."
    )
    patient_pseudonym: str | None = _pseudonym_field()


class IncidentReported(Event):
    """A hospital reported a new radiation incident: no patient identifier, only a pseudonym.

    v4 carries the facts with the employers involved (``employers``); v3, v2 and v1 are read as v4.
    """

    event_type: ClassVar[str] = "IncidentReported"
    schema_version: ClassVar[int] = 4
    topic: ClassVar[str] = "incidents"

    facts: IncidentFacts
    channel: IntakeChannel = Field(description="How the facts reached Sievert.")
    source_message_id: str | None = Field(
        default=None, max_length=128, description="The integration engine's message id, if it gave one."
    )
    patient_pseudonym: str | None = _pseudonym_field()


class IncidentFactsAmendedV1(Event):
    """Facts about a known incident were corrected. ``facts`` is the complete corrected set."""

    event_type: ClassVar[str] = "IncidentFactsAmended"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "incidents"

    facts: IncidentFactsV2
    changed_fields: list[str] = Field(description="Top-level fact names whose value changed.")
    reason: str = Field(max_length=500, description="Why the facts changed, in the reporter's words.")
    channel: IntakeChannel = Field(description="How the correction reached Sievert.")


class IncidentFactsAmendedV2(Event):
    """Facts about a known incident were corrected: the complete corrected set, and the pseudonym.

    ``patient_pseudonym`` is the incident's patient as intake knows them after the correction. v2
    added it; v1 (before it) is read as v2 with none.
    """

    event_type: ClassVar[str] = "IncidentFactsAmended"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "incidents"

    facts: IncidentFactsV2
    changed_fields: list[str] = Field(
        description=(
            "Top-level fact names whose value changed, and 'patient_pseudonym' when the correction "
            "names another patient."
        )
    )
    reason: str = Field(max_length=500, description="Why the facts changed, in the reporter's words.")
    channel: IntakeChannel = Field(description="How the correction reached Sievert.")
    patient_pseudonym: str | None = _pseudonym_field()


class IncidentFactsAmendedV3(Event):
    """Facts about a known incident were corrected: the complete corrected set, and the pseudonym.

    ``patient_pseudonym`` is the incident's patient as intake knows them after the correction. v2
    added it; v1 (before it) is read as v2 with none. v3 carries the facts with their fields added
    since v2; v2 is read as v3 unchanged.
    """

    event_type: ClassVar[str] = "IncidentFactsAmended"
    schema_version: ClassVar[int] = 3
    topic: ClassVar[str] = "incidents"

    facts: IncidentFactsV3
    changed_fields: list[str] = Field(
        description=(
            "Top-level fact names whose value changed, and 'patient_pseudonym' when the correction "
            "names another patient."
        )
    )
    reason: str = Field(max_length=500, description="Why the facts changed, in the reporter's words.")
    channel: IntakeChannel = Field(description="How the correction reached Sievert.")
    patient_pseudonym: str | None = _pseudonym_field()


class IncidentFactsAmended(Event):
    """Facts about a known incident were corrected: the complete corrected set, and the pseudonym.

    ``patient_pseudonym`` is the incident's patient as intake knows them after the correction. v2
    added it; v1 (before it) is read as v2 with none. v3 carries the facts with their fields added
    since v2; v4 the employers involved. Earlier versions are read as v4 unchanged.
    """

    event_type: ClassVar[str] = "IncidentFactsAmended"
    schema_version: ClassVar[int] = 4
    topic: ClassVar[str] = "incidents"

    facts: IncidentFacts
    changed_fields: list[str] = Field(
        description=(
            "Top-level fact names whose value changed, and 'patient_pseudonym' when the correction "
            "names another patient."
        )
    )
    reason: str = Field(max_length=500, description="Why the facts changed, in the reporter's words.")
    channel: IntakeChannel = Field(description="How the correction reached Sievert.")
    patient_pseudonym: str | None = _pseudonym_field()


def upcast_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 of either event -> v2: nothing was known of the patient on the log, so no pseudonym."""
    return {**payload, "patient_pseudonym": None}


def upcast_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """v2 of either event -> v3: the facts only gained optional fields, so nothing changes."""
    return payload


def upcast_v3_to_v4(payload: dict[str, Any]) -> dict[str, Any]:
    """v3 of either event -> v4: the facts only gained ``employers`` (optional: none named)."""
    return payload
