"""The content of the documents a trust sends: the IR(ME)R statutory notification, the voluntary
notification (code V), the licensing breach notification and the 12-week investigation report.

Pure: built from the projected facts and decision of one incident, the particulars a person added
to the draft, the investigation's findings and the similar incidents found in the read model.
Nothing here can hold a patient identifier: facts carry none, and free text was checked
(``anonymity``) before it was accepted.

Each document is built only when complete (``completeness``): every item its type and codes
require, each citing its guidance line. Values are given in words (``labels``) beside the codes
and numbers a machine reads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from sievert_reporting.domain import completeness
from sievert_reporting.domain.completeness import ACTIVITY, THERAPY, DocumentInputs, multiplication_factor
from sievert_reporting.domain.correspondence import AuthorityCorrespondence
from sievert_reporting.domain.labels import CODE_CATEGORIES, COMPLEMENTARY, label
from sievert_shared.decision import ClassificationDecision, Outcome
from sievert_shared.events.cases import SimilarIncidentsConfirmed
from sievert_shared.events.reporting import (
    DocumentParticulars,
    DutyHolder,
    IndividualDose,
    InvestigationFindingsRecorded,
    ProcessStep,
    SubmissionKind,
)
from sievert_shared.facts import IncidentFacts, Modality, notifying_employer

#: The shape of the statutory notification and the report; v1 (before the codes' criteria, the
#: facts behind them and the preliminary investigation) still renders (``document_views``).
DOCUMENT_VERSION = 2
#: The voluntary and licensing-breach notifications, first written in this shape.
NEW_DOCUMENT_VERSION = 1

AUTHORITY_NAMES = {
    "cqc": "Care Quality Commission (England)",
    "hiw": "Healthcare Inspectorate Wales",
    "his": "Healthcare Improvement Scotland",
    "rqia": "Regulation and Quality Improvement Authority (Northern Ireland)",
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Labelled(_Model):
    value: str = Field(description="The value as the facts and events carry it, e.g. 'unintended'.")
    label: str = Field(description="The value in words, as the document shows it.")


def labelled(value: StrEnum) -> Labelled:
    return Labelled(value=value.value, label=label(value))


class Authority(_Model):
    code: str = Field(description="e.g. 'cqc'.")
    name: str


class Organisation(_Model):
    trust: str
    site: str
    nation: Labelled


class Contact(_Model):
    role: str = Field(description="A staff role; never a person's name.")


class CodeMeaning(_Model):
    code: str = Field(description="The category ('2.1') or a complementary prefix ('M').")
    category: str = Field(description="The exposure category or the complementary code in words.")
    criterion: str = Field(description="The criterion for notification that was met, in words.")
    guidance_lines: list[int]


class NotificationCode(_Model):
    code: str = Field(description="As decided, e.g. 'ME2.1'.")
    category: str = Field(description="The code without complementary prefixes, e.g. '2.1'.")
    complementary_prefixes: list[str] = Field(description="In the order M, E, V, C.")
    meanings: list[CodeMeaning] = Field(description="The category's, then each prefix's.")


class CriterionFact(_Model):
    item: str
    label: str
    value: str = Field(description="In words, with its unit.")
    guidance_lines: list[int]


class EmployerLine(_Model):
    """One IR(ME)R employer of the exposure (an organisation, never a person)."""

    name: str
    role: Labelled
    notifies: bool = Field(description="This employer makes the notification and sends the report.")


class IncidentSection(_Model):
    discovered_on: dt.date
    occurred_on: dt.date | None
    exposure_kind: Labelled
    modality: Labelled
    individuals_affected: int | None
    notification_codes: list[NotificationCode]
    csaue: bool
    voluntary: bool
    other_bodies: list[Labelled]
    ruleset: str
    #: several employers, the notifying one marked (lines 43, 51, 216); None: the trust alone.
    #: Optional, so documents issued before it still read.
    employers: list[EmployerLine] | None = None


class DetailRow(_Model):
    item: str
    value: float | int | str
    unit: str


class Details(_Model):
    modality: str
    basis: Literal["dose", "radiotherapy", "activity"]
    rows: list[DetailRow]


class _Common(_Model):
    submission_id: uuid.UUID
    incident_id: uuid.UUID
    authority: Authority
    organisation: Organisation
    contact: Contact
    incident: IncidentSection


class _Notification(_Common):
    criterion_facts: list[CriterionFact] = Field(
        description="The facts each code's criterion was decided on."
    )
    individual_doses: list[IndividualDose]
    details: Details
    preliminary_investigation: str = Field(
        description="What the immediate preliminary investigation found (line 218)."
    )
    immediate_actions: list[str] = Field(description="Immediate actions taken (line 218).")
    summary: str


class NotificationDocument(_Notification):
    """IR(ME)R statutory notification (Regulation 8(4)): one per notifiable incident."""

    document: Literal["notification"] = "notification"
    document_version: Literal[2] = 2


class VoluntaryNotificationDocument(_Notification):
    """A voluntary notification, code V (lines 211, 266-268, 300): below the statutory criteria,
    shared for learning."""

    document: Literal["voluntary_notification"] = "voluntary_notification"
    document_version: Literal[1] = 1
    voluntary_reason: str = Field(description="Why the incident is worth sharing (line 268).")


class LicensingBreach(_Model):
    licence_missing: Labelled
    radioactive_substance: str
    administration_purpose: str
    arsac_notified_on: dt.date = Field(description="When the ARSAC Support Unit was told (line 98).")


class LicensingBreachDocument(_Common):
    """The IR(ME)R licensing breach form (lines 45, 87-98, 112): radioactive substances administered
    without the appropriate licence. Not a Regulation 8(4) notification."""

    document: Literal["licensing_breach_notification"] = "licensing_breach_notification"
    document_version: Literal[1] = 1
    breach: LicensingBreach
    details: Details
    preliminary_investigation: str = Field(
        description="What happened, as the preliminary investigation found it."
    )
    immediate_actions: list[str]
    summary: str


class SimilarIncident(_Model):
    reference: str = Field(description="First 8 characters of the Sievert incident id.")
    discovered_on: dt.date | None
    site: str
    modality: str | None
    codes: list[str]
    notifiable: bool | None
    matched_on: list[str] = Field(description="'modality' and/or 'code'.")


class YearCount(_Model):
    year: int
    count: int


class SimilarIncidentsConfirmation(_Model):
    """What a person confirmed about similar previous incidents (line 234)."""

    summary: str
    confirmed_by_role: str
    confirmed_on: dt.date
    edited: bool = Field(description="The person changed the proposed text.")


class SimilarIncidents(_Model):
    searched_from: dt.date
    searched_to: dt.date
    criteria: str
    items: list[SimilarIncident]
    by_year: list[YearCount]
    possible_systematic_failure: bool
    reading: str = Field(description="The machine's proposed reading, which a person confirms or edits.")


class ConfirmedSimilarIncidents(SimilarIncidents):
    confirmation: SimilarIncidentsConfirmation


class EstimatedDoses(_Model):
    estimate: str = Field(
        description="The dose received and intended, in the unit the modality records (line 232)."
    )
    intended_effective_dose_msv: float | None
    received_effective_dose_msv: float | None
    unintended_effective_dose_msv: float | None = Field(description="Received minus intended, if known.")
    multiplication_factor: float | None
    assessment: str = Field(description="The assessment of intended and unintended dose (line 248).")
    individual_doses: list[IndividualDose] = Field(description="Per individual, with code M (line 232).")
    details: Details


class YesNo(_Model):
    answer: bool
    notes: str | None


class Learning(_Model):
    learning: str
    shared_how: str


class ErrorCategory(_Model):
    duty_holder: Labelled | None
    process_step: Labelled | None


class InvestigationReportDocument(_Common):
    """The 12-week report of the investigation (guidance lines 229-238)."""

    document: Literal["investigation_report"] = "investigation_report"
    document_version: Literal[2] = 2
    criterion_facts: list[CriterionFact]
    preliminary_investigation: str | None = Field(description="As the notification gave it, if it did.")
    what_happened: str
    estimated_doses: EstimatedDoses
    root_causes: list[str]
    contributory_factors: list[str]
    similar_incidents: ConfirmedSimilarIncidents
    duty_of_candour: YesNo
    csaue_procedure: YesNo
    learning: Learning
    corrective_actions: list[str]
    error_category: ErrorCategory
    #: the authority's reference and correspondence so far (lines 116-118); None: never notified
    authority_correspondence: AuthorityCorrespondence | None = None


class Findings(_Model):
    """The investigation's findings so far: the merge of every ``InvestigationFindingsRecorded``,
    and the person's confirmation of the similar incidents (``SimilarIncidentsConfirmed``)."""

    what_happened: str | None = None
    dose_assessment: str | None = None
    root_causes: list[str] | None = None
    contributory_factors: list[str] | None = None
    duty_of_candour_met: bool | None = None
    duty_of_candour_notes: str | None = None
    csaue_procedure_applied: bool | None = None
    csaue_procedure_notes: str | None = None
    learning: str | None = None
    learning_shared_how: str | None = None
    corrective_actions: list[str] | None = None
    error_duty_holder: str | None = None
    error_process_step: str | None = None
    similar_incidents_confirmation: SimilarIncidentsConfirmation | None = None


def merge_findings(current: Findings, recorded: InvestigationFindingsRecorded) -> Findings:
    """A later event's non-null item replaces the earlier one."""
    update = recorded.model_dump(mode="json", exclude_none=True, exclude={"recorded_by_role"})
    return current.model_validate({**current.model_dump(mode="json"), **update})


def confirm_similar_incidents(current: Findings, confirmed: SimilarIncidentsConfirmed) -> Findings:
    confirmation = SimilarIncidentsConfirmation(
        summary=confirmed.summary,
        confirmed_by_role=confirmed.confirmed_by_role,
        confirmed_on=confirmed.confirmed_on,
        edited=confirmed.edited,
    )
    return current.model_copy(update={"similar_incidents_confirmation": confirmation})


def merge_particulars(*layers: DocumentParticulars) -> DocumentParticulars:
    """Later layers' non-null items replace earlier ones: the incident's particulars are its
    notification's, then its report's, so the report restates what the notification said."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer.model_dump(mode="json", exclude_none=True))
    return DocumentParticulars.model_validate(merged)


@dataclass(frozen=True)
class SplitCode:
    code: str
    category: str
    complementary_prefixes: list[str]


def split_code(code: str) -> SplitCode:
    """``"ME2.1"``: category ``2.1``, prefixes ``["M", "E"]`` (lines 201-212)."""
    prefixes, category = completeness.split_code(code)
    return SplitCode(code=code, category=category or code, complementary_prefixes=list(prefixes))


def notification_code(code: str, decision: ClassificationDecision) -> NotificationCode:
    """The code with each part's category and criterion in words: the classifier's criterion text
    where it met the category's reason, else the table's category (a code that only carries a
    complementary prefix, line 287)."""
    prefixes, category = completeness.split_code(code)
    met = {r.code: r for r in decision.reasons if r.outcome is Outcome.MET}
    words, lines = CODE_CATEGORIES.get(category, (category, ()))
    reason = met.get(category)
    meanings = [
        CodeMeaning(
            code=category,
            category=words,
            criterion=reason.criterion
            if reason
            else "The exposure category of the incident, given with the complementary code (line 287).",
            guidance_lines=sorted(set(reason.citation.lines if reason else lines) | set(lines)),
        )
    ]
    for prefix in prefixes:
        name, criterion, prefix_lines = COMPLEMENTARY[prefix]
        meanings.append(
            CodeMeaning(code=prefix, category=name, criterion=criterion, guidance_lines=list(prefix_lines))
        )
    return NotificationCode(
        code=code, category=category, complementary_prefixes=list(prefixes), meanings=meanings
    )


def incident_section(facts: IncidentFacts, decision: ClassificationDecision) -> IncidentSection:
    return IncidentSection(
        discovered_on=facts.discovered_on,
        occurred_on=facts.occurred_on,
        exposure_kind=labelled(facts.exposure_kind),
        modality=labelled(facts.modality),
        individuals_affected=facts.individuals_affected,
        notification_codes=[notification_code(c, decision) for c in decision.codes],
        csaue=decision.csaue,
        voluntary=decision.voluntary,
        other_bodies=[labelled(b) for b in decision.other_bodies],
        ruleset=decision.ruleset,
        employers=employer_lines(facts),
    )


def employer_lines(facts: IncidentFacts) -> list[EmployerLine] | None:
    """The employers the facts name, the one that notifies marked; None when they name none."""
    if not facts.employers:
        return None
    notifier = notifying_employer(facts.employers)
    return [EmployerLine(name=e.name, role=labelled(e.role), notifies=e is notifier) for e in facts.employers]


def criterion_facts(inputs: DocumentInputs) -> list[CriterionFact]:
    return [
        CriterionFact(item=item.item, label=item.label, value=value, guidance_lines=list(item.guidance_lines))
        for item, value in completeness.criterion_facts(inputs)
    ]


def details(facts: IncidentFacts) -> Details:
    """The numbers by modality: doses and the factor; or the radiotherapy doses; or activities.
    Only what is known: a row is never empty."""
    rows: list[DetailRow] = []

    def add(item: str, value: float | int | str | None, unit: str) -> None:
        if value is not None:
            rows.append(DetailRow(item=item, value=value, unit=unit))

    if facts.modality in THERAPY:
        add("Prescribed dose, whole course", facts.rt_prescribed_dose_gy, "Gy")
        add("Delivered dose, whole course", facts.rt_delivered_dose_gy, "Gy")
        add("Delivered/intended dose over the course", facts.rt_course_dose_ratio, "ratio")
        add("Prescribed dose per fraction", facts.rt_prescribed_fraction_dose_gy, "Gy")
        add("Highest delivered dose in one fraction", facts.rt_max_fraction_delivered_dose_gy, "Gy")
        add("Highest delivered/intended dose in one fraction", facts.rt_max_fraction_dose_ratio, "ratio")
        add("Fractions prescribed", facts.rt_fractions_prescribed, "fractions")
        add("Fractions delivered", facts.rt_fractions_delivered, "fractions")
        add("Volume the doses describe", _label(facts.rt_dose_volume), "")
        add("Geographical miss", _label(facts.geographical_miss), "")
        add("Partial miss against the error margin", facts.geographical_miss_margin_ratio, "times")
        add("Side or site treated", _label(facts.anatomy_error), "")
        return Details(modality=label(facts.modality), basis="radiotherapy", rows=rows)
    if facts.modality in ACTIVITY:
        prescribed, delivered = facts.nm_prescribed_activity_mbq, facts.nm_delivered_activity_mbq
        add("Prescribed activity", prescribed, "MBq")
        add("Delivered activity", delivered, "MBq")
        if prescribed and delivered is not None:
            add("Difference from prescribed", round(100 * (delivered - prescribed) / prescribed, 1), "%")
        return Details(modality=label(facts.modality), basis="activity", rows=rows)
    add("Intended effective dose", facts.intended_effective_dose_msv, "mSv")
    add("Received effective dose (total)", facts.total_effective_dose_msv, "mSv")
    add("Multiplication factor (received/intended)", multiplication_factor(facts), "x")
    add("Foetal dose", facts.foetal_dose_mgy, "mGy")
    add("Breastfed infant effective dose", facts.breastfed_infant_effective_dose_msv, "mSv")
    add("Planning scans performed", facts.planning_scans, "scans")
    add("Verification images in one fraction", facts.verification_images_in_fraction, "images")
    add("Verification images intended over the course", facts.verification_images_intended, "images")
    add("Additional verification images", facts.verification_images_additional, "images")
    add("Prescribed activity", facts.nm_prescribed_activity_mbq, "MBq")
    add("Delivered activity", facts.nm_delivered_activity_mbq, "MBq")
    add("Side or site exposed", _label(facts.anatomy_error), "")
    add("Equipment type", _label(facts.equipment_type), "")
    return Details(modality=label(facts.modality), basis="dose", rows=rows)


def automatic_summary(facts: IncidentFacts, decision: ClassificationDecision) -> str:
    """One anonymised sentence from the facts alone, so a summary is never empty."""
    parts = [
        f"{label(facts.exposure_kind).split(' (')[0]} in {label(facts.modality).lower()}, "
        f"discovered on {facts.discovered_on.isoformat()}"
    ]
    factor = multiplication_factor(facts)
    if facts.total_effective_dose_msv is not None and facts.intended_effective_dose_msv is not None:
        received = f"{facts.total_effective_dose_msv:g} mSv received against {facts.intended_effective_dose_msv:g} mSv intended"
        parts.append(received + (f" ({factor:g} times)" if factor else ""))
    course = completeness.THERAPY_DOSE.read(DocumentInputs(facts, decision))
    if facts.modality in THERAPY and course:
        parts.append(course)
    if facts.nm_prescribed_activity_mbq is not None and facts.nm_delivered_activity_mbq is not None:
        parts.append(
            f"{facts.nm_delivered_activity_mbq:g} MBq delivered against {facts.nm_prescribed_activity_mbq:g} MBq prescribed"
        )
    codes = ", ".join(decision.codes) if decision.codes else "none"
    return "; ".join(parts) + f". Notification codes: {codes}."


def _organisation(trust: str, site: str, facts: IncidentFacts) -> Organisation:
    return Organisation(trust=trust, site=site, nation=labelled(facts.nation))


def _authority(decision: ClassificationDecision) -> Authority:
    code = decision.authority.value
    return Authority(code=code, name=AUTHORITY_NAMES.get(code, code.upper()))


class _CommonItems(TypedDict):
    submission_id: uuid.UUID
    incident_id: uuid.UUID
    authority: Authority
    organisation: Organisation
    contact: Contact
    incident: IncidentSection


def _common_items(
    submission_id: uuid.UUID,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    inputs: DocumentInputs,
    contact_role: str,
) -> _CommonItems:
    """What every document opens with (``_Common``), built in one place so the documents cannot drift."""
    facts, decision = inputs.facts, inputs.decision
    return _CommonItems(
        submission_id=submission_id,
        incident_id=incident_id,
        authority=_authority(decision),
        organisation=_organisation(trust, site, facts),
        contact=Contact(role=contact_role),
        incident=incident_section(facts, decision),
    )


class IncompleteDocument(ValueError):
    """A document was built with items missing: the caller checks ``completeness`` first."""


def _complete(kind: SubmissionKind, inputs: DocumentInputs) -> None:
    missing = completeness.missing_items(kind, inputs)
    if missing:
        raise IncompleteDocument(f"{kind.value} incomplete: {[m['item'] for m in missing]}")


def notification(
    *,
    kind: SubmissionKind = SubmissionKind.NOTIFICATION,
    submission_id: uuid.UUID,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    inputs: DocumentInputs,
    contact_role: str,
    summary: str | None,
) -> NotificationDocument | VoluntaryNotificationDocument:
    """The statutory or voluntary notification. Call only when it is complete."""
    _complete(kind, inputs)
    facts, decision, particulars = inputs.facts, inputs.decision, inputs.particulars
    auto = automatic_summary(facts, decision)
    assert particulars.preliminary_investigation is not None
    common: dict[str, Any] = {
        **_common_items(submission_id, incident_id, trust, site, inputs, contact_role),
        "criterion_facts": criterion_facts(inputs),
        "individual_doses": list(particulars.individual_doses or []),
        "details": details(facts),
        "preliminary_investigation": particulars.preliminary_investigation,
        "immediate_actions": list(particulars.immediate_actions or []),
        "summary": f"{auto} {summary}" if summary else auto,
    }
    if kind is SubmissionKind.VOLUNTARY_NOTIFICATION:
        return VoluntaryNotificationDocument(**common, voluntary_reason=particulars.voluntary_reason)
    return NotificationDocument(**common)


def licensing_breach(
    *,
    submission_id: uuid.UUID,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    inputs: DocumentInputs,
    contact_role: str,
    summary: str | None,
) -> LicensingBreachDocument:
    """The licensing breach notification. Call only when it is complete."""
    _complete(SubmissionKind.LICENSING_BREACH_NOTIFICATION, inputs)
    facts, p = inputs.facts, inputs.particulars
    assert p.licence_missing and p.radioactive_substance and p.administration_purpose and p.arsac_notified_on
    assert p.preliminary_investigation
    auto = (
        f"{p.radioactive_substance} was administered without {label(p.licence_missing)} "
        f"(Regulation 5), discovered on {facts.discovered_on.isoformat()}; the ARSAC Support Unit was "
        f"notified on {p.arsac_notified_on.isoformat()}."
    )
    return LicensingBreachDocument(
        **_common_items(submission_id, incident_id, trust, site, inputs, contact_role),
        breach=LicensingBreach(
            licence_missing=labelled(p.licence_missing),
            radioactive_substance=p.radioactive_substance,
            administration_purpose=p.administration_purpose,
            arsac_notified_on=p.arsac_notified_on,
        ),
        details=details(facts),
        preliminary_investigation=p.preliminary_investigation,
        immediate_actions=list(p.immediate_actions or []),
        summary=f"{auto} {summary}" if summary else auto,
    )


def similar_incidents(
    *,
    this_incident: uuid.UUID,
    discovered_on: dt.date,
    modality: str,
    codes: list[str],
    candidates: list[dict[str, Any]],
    years: int = 3,
) -> SimilarIncidents:
    """Same trust (the caller's query), same modality or a shared code category, discovered in the
    ``years`` before this incident (line 234: similar previous incidents and trends)."""
    start = _years_before(discovered_on, years)
    categories = {completeness.split_code(c)[1] for c in codes}
    items: list[SimilarIncident] = []
    for row in candidates:
        if row["incident_id"] == this_incident:
            continue
        day = row.get("discovered_on")
        if day is None or not (start <= day <= discovered_on):
            continue
        matched = []
        if row.get("modality") == modality:
            matched.append("modality")
        if categories & {completeness.split_code(c)[1] for c in row.get("codes") or []}:
            matched.append("code")
        if not matched:
            continue
        items.append(
            SimilarIncident(
                reference=str(row["incident_id"])[:8],
                discovered_on=day,
                site=row["site"],
                modality=row.get("modality"),
                codes=list(row.get("codes") or []),
                notifiable=row.get("notifiable"),
                matched_on=matched,
            )
        )
    items.sort(key=lambda i: (i.discovered_on or dt.date.min, i.reference), reverse=True)
    per_year = Counter(i.discovered_on.year for i in items if i.discovered_on)
    by_year = [YearCount(year=y, count=per_year.get(y, 0)) for y in range(start.year, discovered_on.year + 1)]
    systematic, reading = _trend_reading(items, by_year)
    return SimilarIncidents(
        searched_from=start,
        searched_to=discovered_on,
        criteria=(
            f"same trust; same modality ({label(Modality(modality)).lower()}) or a shared notification code "
            f"category; the previous {years} years"
        ),
        items=items,
        by_year=by_year,
        possible_systematic_failure=systematic,
        reading=reading,
    )


def _trend_reading(items: list[SimilarIncident], by_year: list[YearCount]) -> tuple[bool, str]:
    if not items:
        return False, "No similar previous incident was found in the read model."
    sites = {i.site for i in items}
    notifiable = sum(1 for i in items if i.notifiable)
    rising = len(by_year) >= 2 and by_year[-1].count > by_year[-2].count > 0
    # Line 234 asks for "trends that show a possible systematic failure": we flag two or more
    # similar notifiable incidents, or a count that rose year on year.
    systematic = notifiable >= 2 or rising
    reading = (
        f"{len(items)} similar previous incident(s) at {len(sites)} site(s), {notifiable} notifiable"
        + ("; the count is rising year on year" if rising else "")
        + ("; possible systematic failure: review as a theme." if systematic else ".")
    )
    return systematic, reading


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def investigation_report(
    *,
    submission_id: uuid.UUID,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    inputs: DocumentInputs,
    contact_role: str,
    similar: SimilarIncidents,
    correspondence: AuthorityCorrespondence | None = None,
) -> InvestigationReportDocument:
    """The complete report. Call only when it is complete (``completeness``)."""
    _complete(SubmissionKind.INVESTIGATION_REPORT, inputs)
    facts, findings = inputs.facts, inputs.findings
    assert findings is not None and findings.similar_incidents_confirmation is not None
    assert findings.what_happened and findings.learning and findings.learning_shared_how
    assert findings.dose_assessment
    assert findings.duty_of_candour_met is not None and findings.csaue_procedure_applied is not None
    estimate = completeness.REPORT_ITEMS[1].read(inputs)
    assert estimate is not None
    intended, total = facts.intended_effective_dose_msv, facts.total_effective_dose_msv
    return InvestigationReportDocument(
        **_common_items(submission_id, incident_id, trust, site, inputs, contact_role),
        criterion_facts=criterion_facts(inputs),
        preliminary_investigation=inputs.particulars.preliminary_investigation,
        what_happened=findings.what_happened,
        estimated_doses=EstimatedDoses(
            estimate=estimate,
            intended_effective_dose_msv=intended,
            received_effective_dose_msv=total,
            unintended_effective_dose_msv=(
                round(total - (intended or 0.0), 4) if total is not None else None
            ),
            multiplication_factor=multiplication_factor(facts),
            assessment=findings.dose_assessment,
            individual_doses=list(inputs.particulars.individual_doses or []),
            details=details(facts),
        ),
        root_causes=list(findings.root_causes or []),
        contributory_factors=list(findings.contributory_factors or []),
        similar_incidents=ConfirmedSimilarIncidents(
            **similar.model_dump(), confirmation=findings.similar_incidents_confirmation
        ),
        duty_of_candour=YesNo(answer=findings.duty_of_candour_met, notes=findings.duty_of_candour_notes),
        csaue_procedure=YesNo(answer=findings.csaue_procedure_applied, notes=findings.csaue_procedure_notes),
        learning=Learning(learning=findings.learning, shared_how=findings.learning_shared_how),
        corrective_actions=list(findings.corrective_actions or []),
        error_category=ErrorCategory(
            duty_holder=_labelled_value(DutyHolder, findings.error_duty_holder),
            process_step=_labelled_value(ProcessStep, findings.error_process_step),
        ),
        authority_correspondence=correspondence,
    )


def proposed_similar_summary(similar: SimilarIncidents) -> str:
    """The text a person is asked to confirm or edit (line 234): the machine's reading and what it
    searched."""
    return (
        f"{similar.reading} Searched {similar.searched_from.isoformat()} to "
        f"{similar.searched_to.isoformat()}: {similar.criteria}."
    )


def _labelled_value(enum: type[StrEnum], value: str | None) -> Labelled | None:
    return None if value is None else labelled(enum(value))


def _label(item: StrEnum | None) -> str | None:
    return None if item is None else label(item)


DOCUMENT_MODELS: tuple[type[_Common], ...] = (
    NotificationDocument,
    VoluntaryNotificationDocument,
    LicensingBreachDocument,
    InvestigationReportDocument,
)


def document_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the documents, by file name under ``contracts/reports/``."""
    out = {}
    for model in DOCUMENT_MODELS:
        schema = model.model_json_schema(mode="serialization")
        version = model.model_fields["document_version"].default
        name = f"{model.model_fields['document'].default}.v{version}.jsonschema"
        schema["$id"] = f"https://sievert.example/contracts/reports/{name}"
        out[name] = schema
    return out
