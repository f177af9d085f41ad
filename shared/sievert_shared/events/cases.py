"""Events of a case's life after its decision (topic: ``Topics.cases``): the local investigation's
close-out, the enforcing authority's correspondence and closure, withdrawal of a notification,
the case's own closure and retention, and the tasks people owe because of the incident.

Who emits what:

- reporting, where the investigation record and the correspondence are kept:
  ``LocalInvestigationOwnerAssigned``, ``LocalInvestigationClosed``/``Reopened``,
  ``AuthorityQueryReceived``/``Answered``,
  ``AuthorityClosedCase``, and ``SimilarIncidentsConfirmed`` (a person confirmed the report's
  similar previous incidents);
- deadlines, which keeps every clock of a case and therefore decides when a case is closed:
  ``NotificationWithdrawalRequested``/``Agreed``, ``CaseClosed``/``Reopened``,
  ``CaseRetentionExpired`` and the task events.

Stream id: the incident id, so every event of a case is keyed and ordered like the incident's.
Staff appear by role, never by name; free text is anonymised like every document.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sievert_shared.events.registry import Event
from sievert_shared.events.reporting import DutyHolder, ProcessStep

_Role = Field(min_length=1, max_length=100, description="A staff role, never a name.")
_Text = 4000
_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$"


class _CaseEvent(Event):
    topic: ClassVar[str] = "cases"


# -- Regulation 8(3): the local investigation and its record (guidance lines 223-227) ------------


class LocalInvestigationOwnerAssigned(_CaseEvent):
    """Who owns the investigation, by role (line 225: "there must be a record of the
    investigations"): assigned, or changed to another role."""

    event_type: ClassVar[str] = "LocalInvestigationOwnerAssigned"
    schema_version: ClassVar[int] = 1

    owner_role: str = _Role
    assigned_by_role: str = _Role
    assigned_on: dt.date


class LocalInvestigationClosedV1(_CaseEvent):
    """The investigation was finished and its record closed: who owned it, what it found, the
    cause in the error taxonomy the reports use, and what was done. Meets the local
    investigation window; a case with no notification due is then closed."""

    event_type: ClassVar[str] = "LocalInvestigationClosed"
    schema_version: ClassVar[int] = 1

    owner_role: str = _Role
    closed_by_role: str = _Role
    closed_on: dt.date = Field(description="The day the investigation was closed; not before discovery.")
    findings: str = Field(min_length=1, max_length=_Text, description="What the investigation found.")
    error_duty_holder: DutyHolder | None = None
    error_process_step: ProcessStep | None = None
    corrective_actions: list[str] = Field(default_factory=list, max_length=50)


_Code = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ErrorCategory(BaseModel):
    """The error in CQC's three-tier taxonomy (its IR(ME)R annual reports), as codes of one
    published version (the reporting service's taxonomy data names its source)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    taxonomy_version: str = Field(min_length=1, max_length=40, description="e.g. '2023/24'.")
    duty_holder: str = Field(
        min_length=1, max_length=80, description="Tier 1: the duty holder from whom the error originated."
    )
    pathway_point: str = Field(
        min_length=1, max_length=80, description="Tier 2: the point in the pathway where it first occurred."
    )
    what_went_wrong: str | None = Field(default=None, min_length=1, max_length=80, description="Tier 3.")


class RadiotherapyEventCoding(BaseModel):
    """A radiotherapy incident coded in the national radiotherapy error and near miss (RTE)
    taxonomy, as codes of one published version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    taxonomy_version: str = Field(min_length=1, max_length=40)
    level: int = Field(ge=1, le=5, description="Classification level 1-5 (1: reportable radiation incident).")
    level_basis: Literal["notifiable", "near_miss", "stated"] = Field(
        description=(
            "notifiable: level 1 because a notification to the enforcing authority is due; "
            "near_miss: level 4 because nobody was exposed; stated: by the person closing the investigation."
        )
    )
    process_subcodes: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)
    failed_safety_barriers: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)
    effective_safety_barriers: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)
    causative_factors: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)
    detection_methods: list[Annotated[str, _Code]] = Field(default_factory=list, max_length=20)


class LocalInvestigationClosed(_CaseEvent):
    """The investigation was finished and its record closed: who owned it, what it found, the
    cause in the error taxonomy the reports use, and what was done. Meets the local
    investigation window; a case with no notification due is then closed.

    v2 added the published taxonomies: ``error_category`` (CQC's three tiers) for any incident and
    ``radiotherapy_event`` (the national RTE coding) for a radiotherapy one. A v1 close-out coded
    neither: both are read as None."""

    event_type: ClassVar[str] = "LocalInvestigationClosed"
    schema_version: ClassVar[int] = 2

    owner_role: str = _Role
    closed_by_role: str = _Role
    closed_on: dt.date = Field(description="The day the investigation was closed; not before discovery.")
    findings: str = Field(min_length=1, max_length=_Text, description="What the investigation found.")
    error_duty_holder: DutyHolder | None = None
    error_process_step: ProcessStep | None = None
    corrective_actions: list[str] = Field(default_factory=list, max_length=50)
    error_category: ErrorCategory | None = None
    radiotherapy_event: RadiotherapyEventCoding | None = None


def upcast_investigation_closed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """A v1 close-out was coded in neither published taxonomy."""
    return {**payload, "error_category": None, "radiotherapy_event": None}


class LocalInvestigationReopened(_CaseEvent):
    """A closed investigation was opened again, with the reason; its window runs again."""

    event_type: ClassVar[str] = "LocalInvestigationReopened"
    schema_version: ClassVar[int] = 1

    reopened_by_role: str = _Role
    reopened_on: dt.date
    reason: str = Field(min_length=1, max_length=_Text)


class SimilarIncidentsConfirmed(_CaseEvent):
    """A person confirmed, or edited and confirmed, what the investigation report says about
    similar previous incidents and trends (line 234), which the machine only proposes. Completes the
    similar-incidents task."""

    event_type: ClassVar[str] = "SimilarIncidentsConfirmed"
    schema_version: ClassVar[int] = 1

    confirmed_by_role: str = _Role
    confirmed_on: dt.date
    summary: str = Field(min_length=1, max_length=_Text, description="The text as confirmed, anonymised.")
    edited: bool = Field(description="The person changed the proposed text before confirming it.")


# -- The enforcing authority's correspondence (guidance lines 116-131) ----------------------------


class AuthorityQueryReceived(_CaseEvent):
    """The authority asked for more details ("If we need more details we may contact you")."""

    event_type: ClassVar[str] = "AuthorityQueryReceived"
    schema_version: ClassVar[int] = 1

    query_id: uuid.UUID
    authority: str = Field(min_length=2, max_length=16)
    received_on: dt.date
    summary: str = Field(min_length=1, max_length=_Text, description="What was asked, anonymised.")
    recorded_by_role: str = _Role


class AuthorityQueryAnswered(_CaseEvent):
    event_type: ClassVar[str] = "AuthorityQueryAnswered"
    schema_version: ClassVar[int] = 1

    query_id: uuid.UUID
    answered_on: dt.date
    summary: str = Field(min_length=1, max_length=_Text, description="What was answered, anonymised.")
    answered_by_role: str = _Role


class AuthorityClosedCase(_CaseEvent):
    """The authority signalled closure of the notification (line 129: "signal closure of the
    notification by email"). A notified case is closed only by this."""

    event_type: ClassVar[str] = "AuthorityClosedCase"
    schema_version: ClassVar[int] = 1

    authority: str = Field(min_length=2, max_length=16)
    closed_on: dt.date
    reference: str | None = Field(default=None, min_length=1, max_length=64, pattern=_REFERENCE_PATTERN)
    recorded_by_role: str = _Role


# -- Withdrawal of a notification that no longer meets the criteria -------------------------------
# The guidance sets no withdrawal procedure. Our reading: a notification once made is the
# authority's record, so only the authority can release the trust from the report it expects
# (line 221: "regardless of the severity of the incident"); its agreement comes through the
# correspondence of lines 116-118 and is recorded with its reference.


class NotificationWithdrawalRequested(_CaseEvent):
    """The incident was notified, then re-classified as not notifiable. Nothing is cancelled
    silently: the investigation report stays due until the authority agrees to withdraw."""

    event_type: ClassVar[str] = "NotificationWithdrawalRequested"
    schema_version: ClassVar[int] = 1

    authority: str = Field(min_length=2, max_length=16)
    reason: str = Field(min_length=1, max_length=_Text, description="What changed in the decision.")


class NotificationWithdrawalAgreed(_CaseEvent):
    """A person recorded the authority's agreement to withdraw the notification; the report
    window is then cancelled with this as its reason."""

    event_type: ClassVar[str] = "NotificationWithdrawalAgreed"
    schema_version: ClassVar[int] = 1

    authority: str = Field(min_length=2, max_length=16)
    agreed_on: dt.date
    authority_reference: str = Field(min_length=1, max_length=64, pattern=_REFERENCE_PATTERN)
    recorded_by_role: str = _Role


# -- The case itself -----------------------------------------------------------------------------


class CaseClosureBasis(enum.StrEnum):
    AUTHORITY_CLOSED = "authority_closed"
    """The incident was notified and the authority closed it."""
    LOCAL_INVESTIGATION_CLOSED = "local_investigation_closed"
    """No notification was due (or it was withdrawn) and the local investigation is closed."""


class CaseClosed(_CaseEvent):
    """Nothing more is owed on this case. Its records are kept until ``retain_until`` (the
    trust's retention policy, Regulation 8(3) records, line 227)."""

    event_type: ClassVar[str] = "CaseClosed"
    schema_version: ClassVar[int] = 1

    closed_on: dt.date
    basis: CaseClosureBasis
    retain_until: dt.date


class CaseReopened(_CaseEvent):
    """A closed case has work again (amended facts made it notifiable, its investigation was
    reopened, the authority wrote again); its retention clock stops."""

    event_type: ClassVar[str] = "CaseReopened"
    schema_version: ClassVar[int] = 1

    reason: str = Field(min_length=1, max_length=_Text)


class CaseRetentionExpired(_CaseEvent):
    """The retention period of a closed case ended: intake shreds the patient's identifiers as on
    erasure; the log and every anonymised record still replay."""

    event_type: ClassVar[str] = "CaseRetentionExpired"
    schema_version: ClassVar[int] = 1

    closed_on: dt.date
    retain_until: dt.date


# -- People's tasks ------------------------------------------------------------------------------


class TaskKind(enum.StrEnum):
    DUTY_OF_CANDOUR = "duty_of_candour"
    """Health and Social Care Act 2008 regulation 20 for a notifiable safety incident (lines 85,
    235): tell the patient, apologise, follow up in writing."""
    REGULATION_8_1_INFORM = "regulation_8_1_inform"
    """Regulation 8(1): inform the referrer, the practitioner and the patient or their
    representative of a clinically significant exposure, or record why not (lines 78, 236)."""
    SIMILAR_INCIDENTS_CONFIRMATION = "similar_incidents_confirmation"
    """A person confirms or edits the similar previous incidents the report names (line 234)."""
    MHRA_REPORT = "mhra_report"
    """A medicine or device problem is reported to MHRA (HFS, NIAIC) (lines 260, 377-391)."""
    EARLY_INSPECTOR_CONTACT = "early_inspector_contact"
    """Contact the inspector early when the report cannot be on time or the case is serious
    (line 221)."""
    INFORM_OTHER_EMPLOYERS = "inform_other_employers"
    """Several employers, and this trust notifies: inform the other employer(s) of the incident and
    of the notification (lines 43, 51, 216; docs/classifier.md, "Several employers")."""
    CONFIRM_OTHER_EMPLOYER_NOTIFIED = "confirm_other_employer_notified"
    """Several employers, and another notifies: confirm that it has, with the authority's reference
    (lines 116, 216, 219)."""


class TaskOpened(_CaseEvent):
    """A task is owed. Emitted again, with the same ``task_id``, when its due moves (an amended
    discovery date, an agreed extension of the report it serves) or when a later decision calls
    again for a task it had cancelled, as ``DeadlineScheduled`` is for a window: the latest is the
    task as it now stands."""

    event_type: ClassVar[str] = "TaskOpened"
    schema_version: ClassVar[int] = 1

    task_id: uuid.UUID = Field(description="uuid5 of the incident and the kind: one task per kind and case.")
    kind: TaskKind
    owner_role: str | None = Field(default=None, min_length=1, max_length=100)
    due_at: AwareDatetime | None = Field(
        default=None, description="Where the law or the trust's policy sets one."
    )
    reason: str = Field(min_length=1, max_length=_Text, description="Why the task is owed, in words.")
    guidance_lines: list[int] = Field(
        default_factory=list, description="Lines of the guidance that oblige it."
    )


class TaskAssigned(_CaseEvent):
    event_type: ClassVar[str] = "TaskAssigned"
    schema_version: ClassVar[int] = 1

    task_id: uuid.UUID
    owner_role: str = _Role
    assigned_by_role: str = _Role


class TaskApproaching(_CaseEvent):
    event_type: ClassVar[str] = "TaskApproaching"
    schema_version: ClassVar[int] = 1

    task_id: uuid.UUID
    kind: TaskKind
    due_at: AwareDatetime
    reminder: str = Field(description="The reminder offset that fired, ISO 8601 duration.")


class TaskOverdue(_CaseEvent):
    event_type: ClassVar[str] = "TaskOverdue"
    schema_version: ClassVar[int] = 1

    task_id: uuid.UUID
    kind: TaskKind
    due_at: AwareDatetime


class TaskCompleted(_CaseEvent):
    """The task was done (or, where the law allows, recorded as not done with the reason, e.g.
    the patient was not told for clinical reasons)."""

    event_type: ClassVar[str] = "TaskCompleted"
    schema_version: ClassVar[int] = 1

    task_id: uuid.UUID
    kind: TaskKind
    completed_on: dt.date
    completed_by_role: str = _Role
    outcome: str = Field(min_length=1, max_length=_Text, description="What was done, or why not, anonymised.")
    steps: dict[str, dt.date] = Field(
        default_factory=dict,
        description="Dates of the task's steps, e.g. told_patient, apologised, written_follow_up.",
    )
    step_roles: dict[str, str] = Field(
        default_factory=dict,
        description="Who took each step, by role (never a name); a step not named here was taken by "
        "completed_by_role.",
    )
    steps_not_taken: dict[str, str] = Field(
        default_factory=dict,
        description="Steps recorded as not taken, each with the reason (e.g. informed_patient: not told "
        "for clinical reasons), where the law allows it; anonymised.",
    )


class TaskCancelled(_CaseEvent):
    """The decision no longer calls for the task."""

    event_type: ClassVar[str] = "TaskCancelled"
    schema_version: ClassVar[int] = 1

    task_id: uuid.UUID
    kind: TaskKind
    reason: str = Field(min_length=1, max_length=_Text)
