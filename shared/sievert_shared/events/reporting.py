"""Events the reporting service emits about regulator submissions (topic: ``Topics.submissions``).

Reporting drafts the IR(ME)R notification and the 12-week investigation report, records the
investigation's findings, issues the documents and records the authority's acknowledgement.
Each step is an event, so the submissions read model can be rebuilt from the log. Free text in
these events is checked for patient identifiers before it is accepted: staff appear by role and
patients not at all (guidance line 240: redact names of individual people).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sievert_shared.events.registry import Event


class SubmissionKind(enum.StrEnum):
    NOTIFICATION = "notification"
    """Regulation 8(4): the notification, no later than 2 weeks after discovery."""
    INVESTIGATION_REPORT = "investigation_report"
    """Regulation 8(4): the report of the investigation, no later than 12 weeks after discovery."""
    VOLUNTARY_NOTIFICATION = "voluntary_notification"
    """Complementary code V: an incident below the statutory criteria, offered to share learning
    (lines 211, 266-268, 300). No Regulation 8 window."""
    LICENSING_BREACH_NOTIFICATION = "licensing_breach_notification"
    """The IR(ME)R licensing breach form: radioactive substances administered without the
    appropriate licence, Regulation 5 (lines 45, 94-98, 112). No Regulation 8 window."""


class _SubmissionKindV1(enum.StrEnum):
    NOTIFICATION = "notification"
    INVESTIGATION_REPORT = "investigation_report"


# The kinds as the v1 events carried them, under the name their contracts give them.
_SubmissionKindV1.__name__ = "SubmissionKind"
_SubmissionKindV1.__qualname__ = "SubmissionKind"


class DutyHolder(enum.StrEnum):
    """Which duty holder's part of the process failed (error taxonomy, docs/reporting.md)."""

    REFERRER = "referrer"
    PRACTITIONER = "practitioner"
    OPERATOR = "operator"
    EMPLOYERS_PROCEDURE = "employers_procedure"
    EQUIPMENT = "equipment"


class ProcessStep(enum.StrEnum):
    """At which step of the exposure pathway the error happened (error taxonomy)."""

    REFERRAL = "referral"
    JUSTIFICATION = "justification"
    IDENTIFICATION = "identification"
    PREGNANCY_OR_BREASTFEEDING_ENQUIRY = "pregnancy_or_breastfeeding_enquiry"
    PLANNING = "planning"
    EXPOSURE_OR_DELIVERY = "exposure_or_delivery"


_Role = Field(min_length=1, max_length=100, description="A staff role, never a name.")
_Text = 4000


class IndividualDose(BaseModel):
    """The dose one of several exposed individuals received (line 232: "the dose(s) received by the
    exposed individual(s)"). Individuals are numbered, never named."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    individual: int = Field(
        ge=1, le=10_000, description="1, 2, ...: a number, never a name or an identifier."
    )
    dose: float = Field(ge=0, allow_inf_nan=False, description="The estimated dose received.")
    unit: Literal["mSv", "mGy", "Gy", "MBq"] = Field(
        description="mSv effective dose; mGy or Gy absorbed dose; MBq activity (line 155, 246: an alternative unit)."
    )
    notes: str | None = Field(default=None, max_length=500)


class LicenceMissing(enum.StrEnum):
    """Which licence was missing for an administration (Regulation 5, lines 89-92)."""

    #: The employer's licence for the medical radiological installation (line 91).
    EMPLOYER = "employer"
    #: The practitioner's licence to justify the administration (line 92).
    PRACTITIONER = "practitioner"
    EMPLOYER_AND_PRACTITIONER = "employer_and_practitioner"


class DocumentParticulars(BaseModel):
    """What a person adds to a document beyond the incident's facts, item by item; each is
    required by the document and code that cites its line (docs/reporting.md). Anonymised."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preliminary_investigation: str | None = Field(
        default=None,
        max_length=_Text,
        description="What the immediate preliminary investigation found (line 218).",
    )
    immediate_actions: list[str] | None = Field(
        default=None, max_length=50, description="Immediate actions taken since discovery (line 218)."
    )
    deterministic_effect_description: str | None = Field(
        default=None,
        max_length=_Text,
        description="Code 3: the observed deterministic effect (lines 166, 295-296).",
    )
    radiopharmaceutical_administered: str | None = Field(
        default=None, max_length=200, description="Code 7: the radiopharmaceutical given (lines 177, 334)."
    )
    radiopharmaceutical_intended: str | None = Field(
        default=None, max_length=200, description="Code 7: the radiopharmaceutical intended (lines 177, 334)."
    )
    equipment_fault_description: str | None = Field(
        default=None,
        max_length=_Text,
        description="Code E: the equipment failure that was the direct cause (line 285).",
    )
    voluntary_reason: str | None = Field(
        default=None,
        max_length=_Text,
        description="Code V: the significant or unusual circumstances that make the incident worth sharing (line 268).",
    )
    individual_doses: list[IndividualDose] | None = Field(
        default=None, max_length=1000, description="Code M: the dose each individual received (line 232)."
    )
    licence_missing: LicenceMissing | None = Field(
        default=None, description="Licensing breach: whose licence was missing (lines 89-92)."
    )
    radioactive_substance: str | None = Field(
        default=None,
        max_length=200,
        description="Licensing breach: the radioactive substance administered (line 94).",
    )
    administration_purpose: str | None = Field(
        default=None,
        max_length=_Text,
        description="Licensing breach: the purpose of the administration, which the licence did not cover (line 94).",
    )
    arsac_notified_on: dt.date | None = Field(
        default=None, description="Licensing breach: when the ARSAC Support Unit was told (line 98)."
    )


class SubmissionDraftedV1(Event):
    """A submission to the enforcing authority was drafted or its editable parts were changed."""

    event_type: ClassVar[str] = "SubmissionDrafted"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "submissions"

    submission_id: uuid.UUID = Field(description="One per incident and kind.")
    kind: _SubmissionKindV1
    authority: str = Field(min_length=2, max_length=16, description="Enforcing authority, e.g. 'cqc'.")
    contact_role: str = _Role
    summary: str | None = Field(default=None, max_length=_Text, description="Anonymised summary.")


class SubmissionDrafted(Event):
    """A submission to the enforcing authority was drafted or its editable parts were changed.

    v2: the voluntary and licensing-breach notifications, and ``particulars``: what a person adds
    to the document (the preliminary investigation, the facts behind a code). A v1 draft had none."""

    event_type: ClassVar[str] = "SubmissionDrafted"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "submissions"

    submission_id: uuid.UUID = Field(description="One per incident and kind.")
    kind: SubmissionKind
    authority: str = Field(min_length=2, max_length=16, description="Enforcing authority, e.g. 'cqc'.")
    contact_role: str = _Role
    summary: str | None = Field(default=None, max_length=_Text, description="Anonymised summary.")
    particulars: DocumentParticulars = Field(
        default_factory=DocumentParticulars, description="The draft's particulars as they stand (merged)."
    )


class InvestigationFindingsRecorded(Event):
    """Findings of the investigation, item by item (guidance lines 229-238). Items left null are
    unchanged; a later event's non-null item replaces an earlier one."""

    event_type: ClassVar[str] = "InvestigationFindingsRecorded"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "submissions"

    recorded_by_role: str = _Role
    what_happened: str | None = Field(default=None, max_length=_Text)
    dose_assessment: str | None = Field(
        default=None,
        max_length=_Text,
        description="The assessment of intended and unintended dose (line 248), e.g. by the MPE.",
    )
    root_causes: list[str] | None = Field(default=None, max_length=50)
    contributory_factors: list[str] | None = Field(default=None, max_length=50)
    duty_of_candour_met: bool | None = Field(default=None, description="Line 235.")
    duty_of_candour_notes: str | None = Field(default=None, max_length=_Text)
    csaue_procedure_applied: bool | None = Field(
        default=None, description="Regulation 8(1), schedule 2(l) procedure applied (line 236)."
    )
    csaue_procedure_notes: str | None = Field(default=None, max_length=_Text)
    learning: str | None = Field(default=None, max_length=_Text)
    learning_shared_how: str | None = Field(default=None, max_length=_Text)
    corrective_actions: list[str] | None = Field(default=None, max_length=50)
    error_duty_holder: DutyHolder | None = None
    error_process_step: ProcessStep | None = None


class SubmissionIssuedV1(Event):
    """The document sent to the authority, frozen as sent. Followed in the same transaction by
    ``NotificationSubmitted`` or ``InvestigationReportSubmitted`` for the deadlines service."""

    event_type: ClassVar[str] = "SubmissionIssued"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "submissions"

    submission_id: uuid.UUID
    kind: _SubmissionKindV1
    authority: str = Field(min_length=2, max_length=16)
    submitted_at: AwareDatetime
    submitted_by_role: str = _Role
    document: dict[str, Any] = Field(
        description="The anonymised document; its JSON Schema is contracts/reports/<kind>.v1.jsonschema."
    )
    document_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SubmissionIssued(Event):
    """The document sent to the authority, frozen as sent. A notification or a report is followed
    in the same transaction by ``NotificationSubmitted`` or ``InvestigationReportSubmitted`` for
    the deadlines service; a voluntary or licensing-breach notification has no window to meet.

    v2: the voluntary and licensing-breach notifications."""

    event_type: ClassVar[str] = "SubmissionIssued"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "submissions"

    submission_id: uuid.UUID
    kind: SubmissionKind
    authority: str = Field(min_length=2, max_length=16)
    submitted_at: AwareDatetime
    submitted_by_role: str = _Role
    document: dict[str, Any] = Field(
        description=(
            "The anonymised document; its JSON Schema is "
            "contracts/reports/<document>.v<document_version>.jsonschema."
        )
    )
    document_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SubmissionAcknowledgedV1(Event):
    """The authority acknowledged the submission and gave its reference number (guidance line 116)."""

    event_type: ClassVar[str] = "SubmissionAcknowledged"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "submissions"

    submission_id: uuid.UUID
    kind: _SubmissionKindV1
    authority: str = Field(min_length=2, max_length=16)
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$")
    acknowledged_at: AwareDatetime


class SubmissionAcknowledged(Event):
    """The authority acknowledged the submission and gave its reference number (guidance line 116).

    v2: the voluntary and licensing-breach notifications."""

    event_type: ClassVar[str] = "SubmissionAcknowledged"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "submissions"

    submission_id: uuid.UUID
    kind: SubmissionKind
    authority: str = Field(min_length=2, max_length=16)
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$")
    acknowledged_at: AwareDatetime


def same_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A version that only widened what a field accepts (here, the submission kinds): every
    payload of the earlier version is one of the next as it stands."""
    return payload


# -- thematic reviews (topics: ``Topics.themes`` and ``Topics.shared_themes``) ---------------------


class ThemeOpenedV1(Event):
    """A trust opened a thematic review: incidents across its sites that share a cause, such as an
    equipment model's fault, hand-held dental units or a protocol step. Stream id: the theme id."""

    event_type: ClassVar[str] = "ThemeOpened"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "themes"

    theme_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200, description="Short name, anonymised.")
    description: str = Field(min_length=1, max_length=_Text, description="What the theme is; anonymised.")
    opened_by_role: str = _Role


class ThemeOpened(Event):
    """A trust opened a thematic review: incidents across its sites that share a cause, such as an
    equipment model's fault, hand-held dental units or a protocol step. Stream id: the theme id.

    v2 added ``identified_on``, the day the theme was identified (guidance line 278: code M's
    windows run from it), which a person may state; v1 themes were identified the day they were
    opened, which only the envelope knows, so v1 is read with None and the projection takes the
    envelope's day."""

    event_type: ClassVar[str] = "ThemeOpened"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "themes"

    theme_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200, description="Short name, anonymised.")
    description: str = Field(min_length=1, max_length=_Text, description="What the theme is; anonymised.")
    opened_by_role: str = _Role
    identified_on: dt.date | None = Field(
        default=None,
        description="The day the theme was identified; None: the day it was opened (the envelope's).",
    )


def upcast_theme_opened_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """A v1 theme stated no day: it was identified the day it was opened (the envelope's)."""
    return {**payload, "identified_on": None}


class IncidentLinkedToTheme(Event):
    """An incident of the trust (at any of its sites) was linked to one of its themes.
    Stream id: the theme id."""

    event_type: ClassVar[str] = "IncidentLinkedToTheme"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "themes"

    theme_id: uuid.UUID
    incident_id: uuid.UUID
    site: str = Field(min_length=1, max_length=64, description="The incident's site (the theme spans sites).")
    linked_by_role: str = _Role


class IncidentUnlinkedFromTheme(Event):
    """A trust took one of its incidents out of one of its themes (linked by mistake, or found on
    review not to share the cause). Stream id: the theme id. A later link may add it again."""

    event_type: ClassVar[str] = "IncidentUnlinkedFromTheme"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "themes"

    theme_id: uuid.UUID
    incident_id: uuid.UUID
    site: str = Field(min_length=1, max_length=64, description="The incident's site.")
    reason: str = Field(min_length=1, max_length=1000, description="Why it was unlinked; anonymised.")
    unlinked_by_role: str = _Role


class ThemeIndividualsCountedV1(Event):
    """A theme's count of individuals, for code M (guidance line 276-281: "more than one
    individual" in the incident or the theme). Sent once per incident when a link takes the theme
    past one individual, and when an unlink changes the count of a theme that was past one. One
    event per incident, stream id = the incident id, so it is keyed like every other event about
    that incident and the classifier re-decides each one in order. An incident absent from
    ``incident_ids`` has left the theme: the theme no longer counts for it."""

    event_type: ClassVar[str] = "ThemeIndividualsCounted"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "themes"

    theme_id: uuid.UUID
    individuals: int = Field(ge=0, description="Individuals across every incident linked to the theme.")
    incident_ids: list[uuid.UUID] = Field(
        description="Every incident linked to the theme now; without the event's own incident if it was unlinked."
    )


class ThemeIndividualsCounted(Event):
    """A theme's count of individuals, for code M (guidance line 276-281: "more than one
    individual" in the incident or the theme). Sent once per incident when a link takes the theme
    past one individual, and when an unlink changes the count of a theme that was past one. One
    event per incident, stream id = the incident id, so it is keyed like every other event about
    that incident and the classifier re-decides each one in order. An incident absent from
    ``incident_ids`` has left the theme: the theme no longer counts for it.

    v2 added ``theme_identified_on``, the day the theme was identified (line 278: when the theme is
    what makes the incident notifiable, code M's windows run from it)."""

    event_type: ClassVar[str] = "ThemeIndividualsCounted"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "themes"

    theme_id: uuid.UUID
    individuals: int = Field(ge=0, description="Individuals across every incident linked to the theme.")
    incident_ids: list[uuid.UUID] = Field(
        description="Every incident linked to the theme now; without the event's own incident if it was unlinked."
    )
    theme_identified_on: dt.date | None = Field(
        default=None,
        description="The day the theme was identified; None: unknown (a v1 event), counted from discovery.",
    )


def upcast_theme_counted_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """A v1 count did not say when its theme was identified, and the classifier has no other
    source: unknown, so the incident's windows stay counted from its discovery, as they were."""
    return {**payload, "theme_identified_on": None}


class CountEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field(description="A modality, a notification code or an equipment type.")
    count: int = Field(ge=0)


class ThemeShared(Event):
    """An anonymised summary of a theme, shared with other trusts (topic ``shared_themes``). Carries
    no incident id and no patient data: the theme's words and counts only. Stream id: the theme id;
    tenant: the sharing trust."""

    event_type: ClassVar[str] = "ThemeShared"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "shared_themes"

    theme_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=_Text)
    incidents: int = Field(ge=0)
    individuals: int = Field(ge=0)
    sites: int = Field(ge=0, description="How many of the trust's sites reported an incident in the theme.")
    by_modality: list[CountEntry]
    by_code: list[CountEntry] = Field(description="By most relevant notification code, '-' if none.")
    by_equipment_type: list[CountEntry] = Field(description="'unknown' where the facts do not say.")


# -- dashboards (topic: ``Topics.dashboard``) --------------------------------------------------------


class SubmissionStatusChangedV1(Event):
    """A submission was drafted, submitted or acknowledged. Stream id: the incident id."""

    event_type: ClassVar[str] = "SubmissionStatusChanged"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "dashboard"

    submission_id: uuid.UUID
    kind: _SubmissionKindV1
    status: str = Field(description="draft, submitted or acknowledged.")


class SubmissionStatusChangedV2(Event):
    """A submission was drafted, submitted or acknowledged. Stream id: the incident id.

    v2 added ``channel``: a submission the trust made outside Sievert (recorded through the
    deadlines service) is ``external``. v1 events were all Sievert's own (``sievert``)."""

    event_type: ClassVar[str] = "SubmissionStatusChanged"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "dashboard"

    submission_id: uuid.UUID
    kind: _SubmissionKindV1
    status: str = Field(description="draft, submitted or acknowledged.")
    channel: Literal["sievert", "external"] = Field(
        description="sievert: drafted and issued here; external: sent outside Sievert and recorded."
    )


class SubmissionStatusChanged(Event):
    """A submission was drafted, submitted or acknowledged. Stream id: the incident id.

    v2 added ``channel``: a submission the trust made outside Sievert (recorded through the
    deadlines service) is ``external``. v1 events were all Sievert's own (``sievert``).
    v3: the voluntary and licensing-breach notifications."""

    event_type: ClassVar[str] = "SubmissionStatusChanged"
    schema_version: ClassVar[int] = 3
    topic: ClassVar[str] = "dashboard"

    submission_id: uuid.UUID
    kind: SubmissionKind
    status: str = Field(description="draft, submitted or acknowledged.")
    channel: Literal["sievert", "external"] = Field(
        description="sievert: drafted and issued here; external: sent outside Sievert and recorded."
    )


def upcast_status_changed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Before v2 only Sievert's own submissions were announced."""
    return {**payload, "channel": "sievert"}


class DeadlineCountsChanged(Event):
    """A trust's deadline windows by status changed. Stream id: a uuid5 of the trust."""

    event_type: ClassVar[str] = "DeadlineCountsChanged"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "dashboard"

    trust: str
    open: int = Field(ge=0, description="Windows still open (not met, missed or cancelled).")
    missed: int = Field(ge=0)
    met: int = Field(ge=0)
    due_within_7_days: int = Field(ge=0, description="Open windows closing within 7 days of the change.")


class ThemeUpdated(Event):
    """A theme was opened, gained an incident or lost one. Stream id: the theme id."""

    event_type: ClassVar[str] = "ThemeUpdated"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "dashboard"

    theme_id: uuid.UUID
    title: str
    incidents: int = Field(ge=0)
    individuals: int = Field(ge=0)
    sites: int = Field(ge=0)
