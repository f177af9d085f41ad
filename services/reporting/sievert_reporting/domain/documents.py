"""The content of the IR(ME)R notification and the 12-week investigation report.

Pure: built from the projected facts and decision of one incident, the investigation's findings
and the similar incidents found in the read model. Nothing here can hold a patient identifier:
facts carry none, and free text was checked (``anonymity``) before it was accepted.

Sections follow what the authorities ask a notification to carry and, for the report, the items
CQC lists under "Keeping records of investigations" (guidance lines 229-238).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sievert_reporting.domain.correspondence import AuthorityCorrespondence
from sievert_shared.decision import ClassificationDecision
from sievert_shared.events.reporting import InvestigationFindingsRecorded
from sievert_shared.facts import IncidentFacts, Modality

DOCUMENT_VERSION = 1

AUTHORITY_NAMES = {
    "cqc": "Care Quality Commission (England)",
    "hiw": "Healthcare Inspectorate Wales",
    "his": "Healthcare Improvement Scotland",
    "rqia": "Regulation and Quality Improvement Authority (Northern Ireland)",
}

# Complementary codes (guidance lines 262-285) and what each prefix means.
COMPLEMENTARY = {
    "M": "more than one individual exposed within the same incident or theme",
    "E": "equipment fault was the direct cause",
    "V": "voluntary notification, for learning",
    "C": "clinically significant exposure",
}

_THERAPY = {Modality.EXTERNAL_BEAM_RADIOTHERAPY, Modality.BRACHYTHERAPY}
_ACTIVITY = {Modality.NUCLEAR_MEDICINE_THERAPY, Modality.SIRT}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Authority(_Model):
    code: str = Field(description="e.g. 'cqc'.")
    name: str


class Organisation(_Model):
    trust: str
    site: str
    nation: str


class Contact(_Model):
    role: str = Field(description="A staff role; never a person's name.")


class NotificationCode(_Model):
    code: str = Field(description="As decided, e.g. 'ME2.1'.")
    category: str = Field(description="The code without complementary prefixes, e.g. '2.1'.")
    complementary_prefixes: list[str] = Field(description="In the order M, E, V, C.")
    complementary_meanings: list[str]


class IncidentSection(_Model):
    discovered_on: dt.date
    occurred_on: dt.date | None
    exposure_kind: str
    modality: str
    individuals_affected: int | None
    notification_codes: list[NotificationCode]
    csaue: bool
    voluntary: bool
    other_bodies: list[str]
    ruleset: str


class DetailRow(_Model):
    item: str
    value: float | int | str | None
    unit: str


class Details(_Model):
    modality: str
    basis: Literal["dose", "radiotherapy_ratios", "activity"]
    rows: list[DetailRow]


class NotificationDocument(_Model):
    """IR(ME)R statutory notification: one per notifiable incident."""

    document: Literal["notification"] = "notification"
    document_version: int = DOCUMENT_VERSION
    submission_id: uuid.UUID
    incident_id: uuid.UUID
    authority: Authority
    organisation: Organisation
    contact: Contact
    incident: IncidentSection
    details: Details
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


class SimilarIncidents(_Model):
    searched_from: dt.date
    searched_to: dt.date
    criteria: str
    items: list[SimilarIncident]
    by_year: list[YearCount]
    possible_systematic_failure: bool
    reading: str


class EstimatedDoses(_Model):
    intended_effective_dose_msv: float | None
    received_effective_dose_msv: float | None
    unintended_effective_dose_msv: float | None = Field(description="Received minus intended, if known.")
    multiplication_factor: float | None
    assessment: str | None
    details: Details


class YesNo(_Model):
    answer: bool
    notes: str | None


class Learning(_Model):
    learning: str
    shared_how: str


class ErrorCategory(_Model):
    duty_holder: str | None
    process_step: str | None


class InvestigationReportDocument(_Model):
    """The 12-week report of the investigation (guidance lines 229-238)."""

    document: Literal["investigation_report"] = "investigation_report"
    document_version: int = DOCUMENT_VERSION
    submission_id: uuid.UUID
    incident_id: uuid.UUID
    authority: Authority
    organisation: Organisation
    contact: Contact
    incident: IncidentSection
    what_happened: str
    estimated_doses: EstimatedDoses
    root_causes: list[str]
    contributory_factors: list[str]
    similar_incidents: SimilarIncidents
    duty_of_candour: YesNo
    csaue_procedure: YesNo
    learning: Learning
    corrective_actions: list[str]
    error_category: ErrorCategory
    #: the authority's reference and correspondence so far (lines 116-118); None: never notified
    authority_correspondence: AuthorityCorrespondence | None = None


class Findings(_Model):
    """The investigation's findings so far: the merge of every ``InvestigationFindingsRecorded``."""

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


def merge_findings(current: Findings, recorded: InvestigationFindingsRecorded) -> Findings:
    """A later event's non-null item replaces the earlier one."""
    update = recorded.model_dump(mode="json", exclude_none=True, exclude={"recorded_by_role"})
    return current.model_copy(update=update)


# The report items CQC lists (lines 231-238) and what we check for each; the similar-incidents
# item (line 234) is found automatically and so is never missing.
REPORT_ITEMS: tuple[tuple[str, str], ...] = (
    ("what_happened", "what happened (line 231)"),
    ("estimated_doses", "an estimate of the dose(s) received, intended and unintended (lines 232, 248)"),
    ("root_causes", "the root causes (line 233)"),
    ("contributory_factors", "the contributory factors, or an explicit empty list (line 233)"),
    ("duty_of_candour_met", "whether duty of candour requirements have been met (line 235)"),
    ("csaue_procedure_applied", "whether the CSAUE procedure was applied (line 236)"),
    ("learning", "the learning from the investigation (line 237)"),
    ("learning_shared_how", "how the learning has been shared (line 237)"),
    ("corrective_actions", "the corrective measures or remedial actions (line 238)"),
)


def missing_report_items(findings: Findings, facts: IncidentFacts) -> list[dict[str, str]]:
    """Every item the report still lacks, as ``{"item", "requirement"}``; empty when complete."""
    present = {
        "what_happened": bool(findings.what_happened),
        "estimated_doses": bool(findings.dose_assessment) or _has_dose_estimate(facts),
        "root_causes": bool(findings.root_causes),
        "contributory_factors": findings.contributory_factors is not None,
        "duty_of_candour_met": findings.duty_of_candour_met is not None,
        "csaue_procedure_applied": findings.csaue_procedure_applied is not None,
        "learning": bool(findings.learning),
        "learning_shared_how": bool(findings.learning_shared_how),
        "corrective_actions": bool(findings.corrective_actions),
    }
    return [{"item": item, "requirement": text} for item, text in REPORT_ITEMS if not present[item]]


def _has_dose_estimate(facts: IncidentFacts) -> bool:
    if facts.modality in _THERAPY:
        return facts.rt_course_dose_ratio is not None or facts.geographical_miss is not None
    if facts.modality in _ACTIVITY:
        return facts.nm_delivered_activity_mbq is not None
    return facts.total_effective_dose_msv is not None and (
        facts.intended_effective_dose_msv is not None or facts.exposure_kind.value == "accidental"
    )


def split_code(code: str) -> NotificationCode:
    match = re.fullmatch(r"([MEVC]*)(.*)", code)
    assert match is not None
    prefixes = list(match.group(1))
    return NotificationCode(
        code=code,
        category=match.group(2) or code,
        complementary_prefixes=prefixes,
        complementary_meanings=[COMPLEMENTARY[p] for p in prefixes],
    )


def incident_section(facts: IncidentFacts, decision: ClassificationDecision) -> IncidentSection:
    return IncidentSection(
        discovered_on=facts.discovered_on,
        occurred_on=facts.occurred_on,
        exposure_kind=facts.exposure_kind.value,
        modality=facts.modality.value,
        individuals_affected=facts.individuals_affected,
        notification_codes=[split_code(c) for c in decision.codes],
        csaue=decision.csaue,
        voluntary=decision.voluntary,
        other_bodies=[b.value for b in decision.other_bodies],
        ruleset=decision.ruleset,
    )


def multiplication_factor(facts: IncidentFacts) -> float | None:
    intended, total = facts.intended_effective_dose_msv, facts.total_effective_dose_msv
    if intended is None or total is None or intended <= 0:
        return None
    return round(total / intended, 2)


def details(facts: IncidentFacts) -> Details:
    """The doses by modality: intended, received and the factor; or therapy ratios; or activities."""
    rows: list[DetailRow] = []

    def add(item: str, value: float | int | str | None, unit: str) -> None:
        if value is not None:
            rows.append(DetailRow(item=item, value=value, unit=unit))

    if facts.modality in _THERAPY:
        add("Delivered/intended dose over the course", facts.rt_course_dose_ratio, "ratio")
        add("Highest delivered/intended dose in one fraction", facts.rt_max_fraction_dose_ratio, "ratio")
        add("Volume the ratios describe", _v(facts.rt_dose_volume), "")
        add("Geographical miss", _v(facts.geographical_miss), "")
        add("Partial miss / error margin", facts.geographical_miss_margin_ratio, "ratio")
        return Details(modality=facts.modality.value, basis="radiotherapy_ratios", rows=rows)
    if facts.modality in _ACTIVITY:
        prescribed, delivered = facts.nm_prescribed_activity_mbq, facts.nm_delivered_activity_mbq
        add("Prescribed activity", prescribed, "MBq")
        add("Delivered activity", delivered, "MBq")
        if prescribed and delivered is not None:
            add("Difference from prescribed", round(100 * (delivered - prescribed) / prescribed, 1), "%")
        return Details(modality=facts.modality.value, basis="activity", rows=rows)
    add("Intended effective dose", facts.intended_effective_dose_msv, "mSv")
    add("Received effective dose (total)", facts.total_effective_dose_msv, "mSv")
    add("Multiplication factor (received/intended)", multiplication_factor(facts), "x")
    add("Foetal dose", facts.foetal_dose_mgy, "mGy")
    add("Breastfed infant effective dose", facts.breastfed_infant_effective_dose_msv, "mSv")
    add("Planning scans performed", facts.planning_scans, "count")
    add("Verification images in one fraction", facts.verification_images_in_fraction, "count")
    add("Additional verification images", facts.verification_images_additional, "count")
    return Details(modality=facts.modality.value, basis="dose", rows=rows)


def automatic_summary(facts: IncidentFacts, decision: ClassificationDecision) -> str:
    """One anonymised sentence from the facts alone, so a summary is never empty."""
    kind = facts.exposure_kind.value.replace("_", " ")
    parts = [
        f"{kind.capitalize()} exposure in {facts.modality.value.replace('_', ' ')}, "
        f"discovered on {facts.discovered_on.isoformat()}"
    ]
    factor = multiplication_factor(facts)
    if facts.total_effective_dose_msv is not None and facts.intended_effective_dose_msv is not None:
        received = f"{facts.total_effective_dose_msv:g} mSv received against {facts.intended_effective_dose_msv:g} mSv intended"
        parts.append(received + (f" ({factor:g}x)" if factor else ""))
    if facts.rt_course_dose_ratio is not None:
        parts.append(f"course dose ratio {facts.rt_course_dose_ratio:g}")
    if facts.nm_prescribed_activity_mbq is not None and facts.nm_delivered_activity_mbq is not None:
        parts.append(
            f"{facts.nm_delivered_activity_mbq:g} MBq delivered against {facts.nm_prescribed_activity_mbq:g} MBq prescribed"
        )
    codes = ", ".join(decision.codes) if decision.codes else "none"
    return "; ".join(parts) + f". Notification codes: {codes}."


def notification(
    *,
    submission_id: uuid.UUID,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    facts: IncidentFacts,
    decision: ClassificationDecision,
    contact_role: str,
    summary: str | None,
) -> NotificationDocument:
    auto = automatic_summary(facts, decision)
    return NotificationDocument(
        submission_id=submission_id,
        incident_id=incident_id,
        authority=_authority(decision),
        organisation=Organisation(trust=trust, site=site, nation=facts.nation.value),
        contact=Contact(role=contact_role),
        incident=incident_section(facts, decision),
        details=details(facts),
        summary=f"{auto} {summary}" if summary else auto,
    )


def _authority(decision: ClassificationDecision) -> Authority:
    code = decision.authority.value
    return Authority(code=code, name=AUTHORITY_NAMES.get(code, code.upper()))


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
    categories = {split_code(c).category for c in codes}
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
        if categories & {split_code(c).category for c in row.get("codes") or []}:
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
        criteria=f"same trust; same modality ({modality}) or a shared notification code category; previous {years} years",
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
    facts: IncidentFacts,
    decision: ClassificationDecision,
    contact_role: str,
    findings: Findings,
    similar: SimilarIncidents,
    correspondence: AuthorityCorrespondence | None = None,
) -> InvestigationReportDocument:
    """The complete report. Call only when ``missing_report_items`` is empty."""
    missing = missing_report_items(findings, facts)
    if missing:
        raise ValueError(f"report incomplete: {[m['item'] for m in missing]}")
    assert findings.what_happened and findings.learning and findings.learning_shared_how
    assert findings.duty_of_candour_met is not None and findings.csaue_procedure_applied is not None
    intended, total = facts.intended_effective_dose_msv, facts.total_effective_dose_msv
    return InvestigationReportDocument(
        submission_id=submission_id,
        incident_id=incident_id,
        authority=_authority(decision),
        organisation=Organisation(trust=trust, site=site, nation=facts.nation.value),
        contact=Contact(role=contact_role),
        incident=incident_section(facts, decision),
        what_happened=findings.what_happened,
        estimated_doses=EstimatedDoses(
            intended_effective_dose_msv=intended,
            received_effective_dose_msv=total,
            unintended_effective_dose_msv=(
                round(total - (intended or 0.0), 4) if total is not None else None
            ),
            multiplication_factor=multiplication_factor(facts),
            assessment=findings.dose_assessment,
            details=details(facts),
        ),
        root_causes=list(findings.root_causes or []),
        contributory_factors=list(findings.contributory_factors or []),
        similar_incidents=similar,
        duty_of_candour=YesNo(answer=findings.duty_of_candour_met, notes=findings.duty_of_candour_notes),
        csaue_procedure=YesNo(answer=findings.csaue_procedure_applied, notes=findings.csaue_procedure_notes),
        learning=Learning(learning=findings.learning, shared_how=findings.learning_shared_how),
        corrective_actions=list(findings.corrective_actions or []),
        error_category=ErrorCategory(
            duty_holder=findings.error_duty_holder, process_step=findings.error_process_step
        ),
        authority_correspondence=correspondence,
    )


def _v(item: object) -> str | None:
    return None if item is None else str(getattr(item, "value", item))


def document_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the documents, by file name under ``contracts/reports/``."""
    out = {}
    for model in (NotificationDocument, InvestigationReportDocument):
        schema = model.model_json_schema(mode="serialization")
        name = f"{model.model_fields['document'].default}.v{DOCUMENT_VERSION}.jsonschema"
        schema["$id"] = f"https://sievert.example/contracts/reports/{name}"
        out[name] = schema
    return out
