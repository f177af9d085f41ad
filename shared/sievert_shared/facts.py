"""Incident facts: what the classifier needs to know about an IR(ME)R incident.

Every field but the four required ones is optional, and ``None`` always means
"not known yet". The classifier never guesses a missing fact: a criterion that
needs one reports it in ``ClassificationDecision.needs_facts`` instead.

Line numbers cited below refer to the CQC guidance "IR(ME)R: notify us about an
exposure", updated 19 April 2023 (``cqc-irmer-notification-guidance-2023.txt``
in the project's domain sources).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails

from sievert_shared.door_dates import StrictDate
from sievert_shared.envelope import TrustId

__all__ = [
    "AnatomyError",
    "CareSetting",
    "DeterministicEffect",
    "DoseVolume",
    "Employer",
    "EmployerProblem",
    "EmployerRole",
    "EquipmentType",
    "ExposureKind",
    "GeographicalMiss",
    "IncidentFacts",
    "Modality",
    "Nation",
    "VerificationImagingCause",
    "employer_problems",
    "incident_facts_json_schema",
    "notifying_employer",
    "occurred_not_after_discovery",
    "reporting_trust_problem",
]


class Nation(StrEnum):
    """UK nation of the site; it picks the enforcing authority and the age of a child."""

    ENGLAND = "england"
    WALES = "wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern_ireland"


class ExposureKind(StrEnum):
    """What kind of exposure the incident was (guidance lines 53-59, 223, 393-395)."""

    #: Regulation 2: an individual was exposed when no exposure of any kind was intended.
    ACCIDENTAL = "accidental"
    #: Regulation 2: the exposure was intended, but what was received was significantly
    #: greater than or different from what was intended.
    UNINTENDED = "unintended"
    #: Nobody was exposed; the error was caught before the exposure.
    NEAR_MISS = "near_miss"
    #: A worker was exposed (IRR17, not IR(ME)R).
    OCCUPATIONAL = "occupational"
    #: A member of the public was exposed (IRR17, not IR(ME)R).
    PUBLIC = "public"


class Modality(StrEnum):
    """Modality or exposure category of the procedure involved."""

    RADIOGRAPHY = "radiography"
    FLUOROSCOPY = "fluoroscopy"
    CT = "ct"
    MAMMOGRAPHY = "mammography"
    DENTAL = "dental"
    #: Interventional radiology and cardiology, including interventional CT (line 289).
    INTERVENTIONAL = "interventional"
    DIAGNOSTIC_NUCLEAR_MEDICINE = "diagnostic_nuclear_medicine"
    #: Nuclear medicine therapy other than SIRT (code 10.2).
    NUCLEAR_MEDICINE_THERAPY = "nuclear_medicine_therapy"
    #: Selective internal radiation therapy (code 10.1).
    SIRT = "sirt"
    #: External-beam radiotherapy, including intraoperative therapy (line 343).
    EXTERNAL_BEAM_RADIOTHERAPY = "external_beam_radiotherapy"
    BRACHYTHERAPY = "brachytherapy"
    #: Radiotherapy planning scans (code 4.1).
    RADIOTHERAPY_PLANNING_IMAGING = "radiotherapy_planning_imaging"
    #: Radiotherapy treatment verification images (codes 4.2a-c).
    RADIOTHERAPY_VERIFICATION_IMAGING = "radiotherapy_verification_imaging"


class DoseVolume(StrEnum):
    """Which volume the radiotherapy dose ratios describe (codes 8.1, 8.2, 9.2)."""

    #: Planning target volume.
    PTV = "ptv"
    ORGAN_AT_RISK = "organ_at_risk"


class GeographicalMiss(StrEnum):
    """Radiotherapy geographical miss (codes 9.1, 9.2)."""

    NONE = "none"
    PARTIAL = "partial"
    TOTAL = "total"


class VerificationImagingCause(StrEnum):
    """Why radiotherapy verification images were repeated (codes 4.2a-c, lines 314-324)."""

    SET_UP_ERROR = "set_up_error"
    PROTOCOL_FAILURE = "protocol_failure"
    #: A persistent or repeated hardware or software failure (line 318).
    THEMATIC_EQUIPMENT_FAILURE = "thematic_equipment_failure"
    #: A one-off hardware or software failure, not (yet) identified as a theme.
    EQUIPMENT_FAILURE = "equipment_failure"
    OTHER = "other"


class DeterministicEffect(StrEnum):
    """Observed deterministic (tissue) effect of the exposure (code 3, line 295)."""

    NONE = "none"
    #: Excluded from code 3 (line 295).
    TRANSIENT_ERYTHEMA = "transient_erythema"
    OTHER = "other"


class EquipmentType(StrEnum):
    """Kind of X-ray equipment involved, for thematic review (SoR/HERCA advice, 2024)."""

    FIXED = "fixed"
    MOBILE = "mobile"
    PORTABLE = "portable"
    HAND_HELD = "hand_held"


class AnatomyError(StrEnum):
    """Whether the exposure was of the anatomy intended (guidance lines 59-62, 347-349)."""

    #: The intended side and site were exposed.
    NONE = "none"
    #: The incorrect laterality (left for right): an unintended exposure (line 349).
    WRONG_SIDE = "wrong_side"
    #: Another anatomical site or region than intended: an error in the anatomy (line 62).
    WRONG_SITE = "wrong_site"


class CareSetting(StrEnum):
    """Environment the equipment was used in, for thematic review (SoR/HERCA advice, 2024)."""

    HOSPITAL = "hospital"
    OUTPATIENT_CLINIC = "outpatient_clinic"
    DENTAL_PRACTICE = "dental_practice"
    CARE_HOME = "care_home"
    PATIENT_HOME = "patient_home"
    OTHER = "other"


class EmployerRole(StrEnum):
    """An IR(ME)R employer's part in the exposure (guidance line 24: the employer is a duty holder;
    line 32: NHS and independent sector alike)."""

    #: The employer of the referrer: the patient was referred from here (e.g. an NHS trust).
    REFERRING = "referring"
    #: The employer under whose procedures the exposure was performed (e.g. an independent provider
    #: or a neighbouring trust's site).
    PERFORMING = "performing"
    #: Referred and performed under the same employer (one employer's part, named with others).
    REFERRING_AND_PERFORMING = "referring_and_performing"


class Employer(BaseModel):
    """One IR(ME)R employer involved in the exposure, and whether it is the one that notifies."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="Employer")

    name: Annotated[str, Field(min_length=1, max_length=200, strict=True)] = Field(
        description="The employer's name, e.g. 'Northfield NHS Foundation Trust' (an organisation, never a person)."
    )
    trust_code: TrustId | None = Field(
        default=None,
        description=(
            "The employer's trust code on this Sievert deployment, when it is one of its trusts (then it "
            "sees its own part of the incident, read-only); null for an employer outside it."
        ),
    )
    role: EmployerRole = Field(
        description="referring, performing, or referring_and_performing: the employer's part in the exposure."
    )
    notifies: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description=(
            "This employer makes the Regulation 8(4) notification and sends the report (guidance lines "
            "43, 51, 216); the others are informed. Exactly one when several employers are named."
        ),
    )


class _EmployerLike(Protocol):
    """What the employers' rule reads: an ``Employer``, or a decoded mirror of one."""

    @property
    def name(self) -> str: ...
    @property
    def trust_code(self) -> str | None: ...
    @property
    def notifies(self) -> bool: ...


class EmployerProblem(NamedTuple):
    """One problem with the employers: the entry and its field (None: the list as a whole)."""

    entry: int | None
    field: str | None
    message: str

    @property
    def loc(self) -> tuple[int | str, ...]:
        """Where under ``employers``, as pydantic locates an error: ``(1, "notifies")`` or ``()``."""
        return () if self.entry is None or self.field is None else (self.entry, self.field)


def employer_problems(employers: Sequence[_EmployerLike]) -> list[EmployerProblem]:
    """Every problem with a list of employers.

    Notification is the employer's duty (guidance lines 43, 51, 216) and the guidance says nothing
    of shared incidents; our reading (docs/classifier.md, "Several employers") is that one employer
    notifies for the exposure, so that the authority gets one notification and one report: at most
    one employer notifies, and exactly one when several are named. An employer is named once."""
    problems: list[EmployerProblem] = []
    if not employers:
        return [
            EmployerProblem(None, None, "name at least one employer, or null when the trust is the only one")
        ]
    notifying = [index for index, employer in enumerate(employers) if employer.notifies]
    if len(notifying) > 1:
        for index in notifying[1:]:
            problems.append(
                EmployerProblem(
                    index, "notifies", f"only one employer notifies; employers[{notifying[0]}] already does"
                )
            )
    elif len(employers) > 1 and not notifying:
        problems.append(
            EmployerProblem(None, None, "several employers are named: exactly one must have notifies true")
        )
    names: dict[str, int] = {}
    codes: dict[str, int] = {}
    for index, employer in enumerate(employers):
        name = " ".join(employer.name.split()).casefold()
        if name in names:
            problems.append(EmployerProblem(index, "name", f"the same employer as employers[{names[name]}]"))
        names.setdefault(name, index)
        if employer.trust_code is not None:
            code = employer.trust_code.casefold()
            if code in codes:
                problems.append(
                    EmployerProblem(index, "trust_code", f"the same trust as employers[{codes[code]}]")
                )
            codes.setdefault(code, index)
    return problems


def notifying_employer(employers: Sequence[Employer] | None) -> Employer | None:
    """The employer that notifies: the one marked, or the only one named."""
    if not employers:
        return None
    marked = [employer for employer in employers if employer.notifies]
    if marked:
        return marked[0]
    return employers[0] if len(employers) == 1 else None


def reporting_trust_problem(employers: Sequence[Employer] | None, trust: str) -> str | None:
    """Why the employers cannot stand for an incident reported by ``trust``, or None: a trust that
    names employers names itself among them (by its trust code), so its own part is known."""
    if not employers:
        return None
    if any(e.trust_code == trust for e in employers):  # trust codes are exact, as everywhere in Sievert
        return None
    return f"the reporting trust {trust} must be among the employers (an employer with trust_code {trust})"


# Doses, ratios and activities are finite and never negative; pydantic then names the
# offending field in its error, which intake shows to the user. Numbers and flags are
# strict, as the JSON Schema says: "3" or true is not a dose, 2.5 is not a count, and
# "yes" is not a flag.
_Dose = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
_Count = Annotated[int, Field(ge=0, strict=True)]
_Flag = Annotated[bool, Field(strict=True)]
_Prescribed = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
_Name = Annotated[str, Field(min_length=1, max_length=100, strict=True)]


def occurred_not_after_discovery(value: date | None, info: ValidationInfo) -> date | None:
    """An exposure cannot be discovered before it happens; catching this in validation names
    the field in the error, rather than surfacing later as a wrong deadline."""
    discovered = info.data.get("discovered_on")
    if value is not None and isinstance(discovered, date) and value > discovered:
        raise ValueError("must not be after discovered_on")
    return value


class IncidentFacts(BaseModel):
    """The facts of one radiation incident, as known at the time of classification."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title="IncidentFacts",
        json_schema_extra={
            "description": (
                "Facts of an IR(ME)R radiation incident. Optional fields are null when not "
                "known; the classifier lists the ones it still needs in needs_facts."
            )
        },
    )

    # --- where and when -------------------------------------------------------------
    nation: Nation = Field(
        description="UK nation of the site: picks the enforcing authority and the age of a child."
    )
    discovered_on: StrictDate = Field(
        description=(
            "Date the incident was discovered (ISO 8601). Picks the ruleset and starts the "
            "2-week notification and 12-week report clocks (line 219, 221)."
        )
    )
    occurred_on: StrictDate | None = Field(
        default=None,
        description="Date the exposure happened (ISO 8601); not after discovered_on.",
    )

    # --- what happened ----------------------------------------------------------------
    exposure_kind: ExposureKind = Field(
        description=(
            "accidental: no exposure intended; unintended: intended but significantly greater "
            "than or different from what was intended; near_miss: nobody exposed; "
            "occupational: a worker; public: a member of the public."
        )
    )
    modality: Modality = Field(
        description="Modality or exposure category of the procedure: selects which criteria apply."
    )
    patient_age_years: Annotated[int, Field(ge=0, le=150, strict=True)] | None = Field(
        default=None,
        description=(
            "Age of the exposed patient in whole years at the exposure. A child is under 18 "
            "(under 16 in Scotland) (line 150)."
        ),
    )
    individuals_affected: _Count | None = Field(
        default=None,
        description=(
            "Number of individuals exposed in this incident (count; 0 for a near miss). "
            "More than one gives complementary code M (line 207)."
        ),
    )
    patient_pregnant: _Flag | None = Field(
        default=None,
        description="The patient was pregnant at the exposure, so a foetal dose must be estimated.",
    )
    patient_breastfeeding: _Flag | None = Field(
        default=None,
        description="The patient was breastfeeding at the exposure (nuclear medicine, code 6).",
    )

    # --- doses ------------------------------------------------------------------------
    intended_effective_dose_msv: _Dose | None = Field(
        default=None,
        description=(
            "Effective dose intended for the procedure, in mSv (0 for an accidental exposure). "
            "Selects the band of codes 2.1-2.4 (line 162-165)."
        ),
    )
    total_effective_dose_msv: _Dose | None = Field(
        default=None,
        description=(
            "Total effective dose from the incident in mSv, including any intended component, "
            "over-exposure and necessary repeat exposures (line 153)."
        ),
    )
    foetal_dose_mgy: _Dose | None = Field(
        default=None,
        description="Absorbed dose to the foetus from the incident, in mGy (code 5, line 175).",
    )
    breastfed_infant_effective_dose_msv: _Dose | None = Field(
        default=None,
        description="Effective dose to the breastfed infant from the incident, in mSv (code 6, line 176).",
    )
    prior_cumulative_effective_dose_msv: _Dose | None = Field(
        default=None,
        description=(
            "The patient's earlier cumulative effective dose in mSv, recorded for display only. "
            "It never gates a decision (UKHSA/BIR joint position statement, July 2023)."
        ),
    )

    # --- radiotherapy -----------------------------------------------------------------
    rt_course_dose_ratio: _Dose | None = Field(
        default=None,
        description=(
            "Delivered dose divided by intended dose over the whole course (dimensionless), "
            "for the volume in rt_dose_volume (codes 8.1, 8.2, line 182-183)."
        ),
    )
    rt_max_fraction_dose_ratio: _Dose | None = Field(
        default=None,
        description=(
            "Highest delivered-to-intended dose ratio in any single fraction (dimensionless), "
            "for the volume in rt_dose_volume (code 8.1, line 182)."
        ),
    )
    rt_dose_volume: DoseVolume | None = Field(
        default=None,
        description="Volume the dose ratios describe: the planning target volume or an organ at risk.",
    )
    geographical_miss: GeographicalMiss | None = Field(
        default=None,
        description="Radiotherapy geographical miss: none, partial or total (codes 9.1, 9.2).",
    )
    geographical_miss_margin_ratio: _Dose | None = Field(
        default=None,
        description=(
            "Size of a partial miss divided by the locally defined error margin, or by the local "
            "imaging action level as its surrogate (dimensionless; code 9.2, line 191)."
        ),
    )
    planning_scans: _Count | None = Field(
        default=None,
        description="Radiotherapy planning scans performed, including the intended scan (count; code 4.1).",
    )
    verification_images_in_fraction: _Count | None = Field(
        default=None,
        description=(
            "Most verification imaging exposures in any single fraction, including the "
            "intended image (count; code 4.2a, line 170)."
        ),
    )
    verification_images_intended: _Count | None = Field(
        default=None,
        description="Verification imaging exposures intended over the course of treatment (count).",
    )
    verification_images_additional: _Count | None = Field(
        default=None,
        description=(
            "Additional verification imaging exposures over the course, beyond those intended "
            "(count; codes 4.2b, 4.2c)."
        ),
    )
    verification_imaging_cause: VerificationImagingCause | None = Field(
        default=None,
        description="Why the additional verification images were needed (codes 4.2a-c).",
    )

    # --- nuclear medicine therapy -----------------------------------------------------
    nm_prescribed_activity_mbq: Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)] | None = (
        Field(
            default=None,
            description="Prescribed activity of a nuclear medicine therapy, in MBq (codes 10.1, 10.2).",
        )
    )
    nm_delivered_activity_mbq: _Dose | None = Field(
        default=None,
        description="Activity actually delivered by the nuclear medicine therapy, in MBq.",
    )

    # --- observed effects and flags ---------------------------------------------------
    deterministic_effect: DeterministicEffect | None = Field(
        default=None,
        description="Observed deterministic effect: none, transient erythema, or another effect (code 3).",
    )
    deterministic_effect_anticipated: _Flag | None = Field(
        default=None,
        description=(
            "The observed deterministic effect was predicted and accepted when the procedure "
            "was justified (code 3 reports only unintended or unpredicted effects, line 296)."
        ),
    )
    procedural_failure: _Flag | None = Field(
        default=None, description="A procedure was not followed or failed (codes 3, 6; code 5 before 2023)."
    )
    equipment_fault: _Flag | None = Field(
        default=None,
        description=(
            "An equipment failure, including software, PACS/RIS and planning systems, was the "
            "direct cause (complementary code E; MHRA, line 250-260, 285)."
        ),
    )
    incorrect_radiopharmaceutical: _Flag | None = Field(
        default=None,
        description=(
            "The wrong radiopharmaceutical was administered, even with the right isotope (code 7, line 334)."
        ),
    )
    clinically_significant: _Flag | None = Field(
        default=None,
        description=(
            "The employer judges the exposure clinically significant under professional-body "
            "criteria (CSAUE, complementary code C, line 76-85)."
        ),
    )
    voluntary: _Flag | None = Field(
        default=None,
        description=(
            "The employer offers the incident voluntarily for wider learning (complementary "
            "code V, line 266-268). Null is read as no offer."
        ),
    )
    outside_arsac_licence: _Flag | None = Field(
        default=None,
        description=(
            "A radioactive substance was administered without the appropriate ARSAC licence "
            "(Regulation 5 breach, line 87-98)."
        ),
    )

    # --- occupational and public exposures --------------------------------------------
    worker_effective_dose_msv: _Dose | None = Field(
        default=None,
        description="Effective dose a worker received from the incident, in mSv (IRR17 regulation 26).",
    )
    public_effective_dose_msv: _Dose | None = Field(
        default=None,
        description=(
            "Effective dose a member of the public received from the incident, in mSv (IRR17 regulation 26)."
        ),
    )

    # --- thematic review --------------------------------------------------------------
    equipment_type: EquipmentType | None = Field(
        default=None, description="Equipment type: fixed, mobile, portable or hand-held."
    )
    setting: CareSetting | None = Field(
        default=None, description="Setting the equipment was used in, for thematic review."
    )

    # --- added with IncidentReported/IncidentFactsAmended v3 ---------------------------
    # Radiotherapy doses as radiotherapy records them (line 155, 246: where an effective
    # dose in mSv does not fit, a recognised alternative unit is used). They describe the
    # volume in rt_dose_volume; the classifier never turns them into an effective dose.
    rt_prescribed_dose_gy: _Prescribed | None = Field(
        default=None,
        description=(
            "Prescribed (intended) absorbed dose over the whole course, in Gy, to the volume in "
            "rt_dose_volume (planning target volume or organ at risk). With rt_delivered_dose_gy it "
            "gives the course ratio of codes 8.1 and 8.2 when rt_course_dose_ratio is not given."
        ),
    )
    rt_delivered_dose_gy: _Dose | None = Field(
        default=None,
        description=(
            "Absorbed dose delivered over the course in the exposure under report, in Gy, to the volume "
            "in rt_dose_volume (codes 8.1, 8.2; for a wrong patient, code 1: any therapeutic delivery)."
        ),
    )
    rt_prescribed_fraction_dose_gy: _Prescribed | None = Field(
        default=None,
        description=(
            "Prescribed absorbed dose per fraction, in Gy, to the volume in rt_dose_volume. With "
            "rt_max_fraction_delivered_dose_gy it gives the fraction ratio of code 8.1."
        ),
    )
    rt_max_fraction_delivered_dose_gy: _Dose | None = Field(
        default=None,
        description="Highest absorbed dose delivered in any single fraction, in Gy, to the volume in rt_dose_volume.",
    )
    rt_fractions_prescribed: _Count | None = Field(
        default=None, description="Treatment fractions prescribed for the course (count)."
    )
    rt_fractions_delivered: _Count | None = Field(
        default=None,
        description=(
            "Treatment fractions delivered, in whole or in part, in the exposure under report (count; "
            "for a wrong patient, one or more meets code 1)."
        ),
    )
    rt_whole_course_delivered: _Flag | None = Field(
        default=None,
        description="The whole prescribed course was delivered in the exposure under report.",
    )
    anatomy_error: AnatomyError | None = Field(
        default=None,
        description=(
            "none; wrong_side (incorrect laterality); wrong_site (another anatomical site). Either is an "
            "unintended exposure judged on the dose criteria (line 59-62, 347-349); in radiotherapy, a "
            "total geographical miss (code 9.1)."
        ),
    )
    equipment_fault_thematic: _Flag | None = Field(
        default=None,
        description=(
            "The equipment fault is thematic: persistent or recurring, such as the same fault on "
            "different days of one patient's course or in several patients (line 316-318, 324). Asked "
            "for code 4.2c when the cause is equipment_failure."
        ),
    )
    medicine_defect: _Flag | None = Field(
        default=None,
        description=(
            "A medicinal product was defective or mislabelled as supplied, e.g. a mislabelled "
            "radiopharmaceutical vial from the supplier: report to MHRA (HFS in Scotland, NIAIC in "
            "Northern Ireland) (line 377-391). Null is read as no defect known."
        ),
    )
    equipment_manufacturer: _Name | None = Field(
        default=None,
        description="Manufacturer of the equipment involved, named in the device report (line 377-391).",
    )
    equipment_model: _Name | None = Field(
        default=None,
        description="Model of the equipment involved, named in the device report (line 377-391).",
    )

    # Earlier exposures of the same body area, shown with the decision as context (UKHSA/BIR joint
    # position statement, July 2023, line 15, 35): they never change whether or how an incident is
    # notified. With interventional or CT perfusion procedures of that area where deterministic
    # effects are expected, the position's exception, they are to be considered in justifying and
    # optimising the next exposure (docs/classifier.md, "Cumulative dose").
    prior_same_area_exposures: _Count | None = Field(
        default=None,
        description=(
            "Earlier exposures of the same body area as this one, within prior_same_area_period_days "
            "(count). Shown with the decision as context; never changes it (UKHSA/BIR position, 2023)."
        ),
    )
    prior_same_area_period_days: _Count | None = Field(
        default=None,
        description="The period, in days before this exposure, that prior_same_area_exposures counts over.",
    )
    prior_same_area_dose_mgy: _Dose | None = Field(
        default=None,
        description=(
            "Absorbed dose to the skin (peak skin dose) or the organ of that area from the earlier "
            "exposures of the same area, in mGy: the dose deterministic effects depend on."
        ),
    )
    ct_perfusion: _Flag | None = Field(
        default=None,
        description=(
            "The CT exposure was a perfusion study: with interventional procedures, the high-dose "
            "repeated exposures the UKHSA/BIR position names (line 35)."
        ),
    )
    deterministic_effects_expected: _Flag | None = Field(
        default=None,
        description=(
            "The practitioner expects deterministic (tissue) effects from the series of exposures of "
            "this area: with interventional or CT perfusion procedures, the position's exception "
            "(line 35), when earlier doses are to be considered in justification and optimisation."
        ),
    )

    # --- added with IncidentReported/IncidentFactsAmended v4 ---------------------------
    # An empty list is refused by the rule, not by min_length: pydantic would add a "too short"
    # error beside each bad entry's own.
    employers: Annotated[tuple[Employer, ...], Field(max_length=10)] | None = Field(
        default=None,
        description=(
            "The IR(ME)R employers involved when there are several (e.g. a referring trust and a performing "
            "independent provider), the reporting trust among them; exactly one notifies (notifies true) and "
            "the others are informed. null when the reporting trust is the only employer."
        ),
    )

    _not_after_discovery = field_validator("occurred_on")(occurred_not_after_discovery)

    @field_validator("employers")
    @classmethod
    def _employers_consistent(cls, value: tuple[Employer, ...] | None) -> tuple[Employer, ...] | None:
        """Each problem at its own path (``employers/1/notifies``), so a 422 names the field."""
        if value is None:
            return None
        problems = employer_problems(value)
        if problems:
            raise ValidationError.from_exception_data(
                "employers",
                [
                    InitErrorDetails(
                        type="value_error",
                        loc=problem.loc,
                        ctx={"error": ValueError(problem.message)},
                        input=value[problem.entry].model_dump(mode="json")
                        if problem.entry is not None
                        else None,
                    )
                    for problem in problems
                ],
            )
        return value


def incident_facts_json_schema() -> dict[str, Any]:
    """JSON Schema of ``IncidentFacts`` (validation mode), for intake forms and docs."""
    return IncidentFacts.model_json_schema()
