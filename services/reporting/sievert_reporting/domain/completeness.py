"""What each document must hold before it is sent, per document type and notification code, each
item citing the guidance line that asks for it. Pure.

An item reads its value from the incident's facts and decision, the particulars a person added
to the draft, and (for the report) the investigation's findings; it is missing when it reads
``None``. The same reading writes the document's "facts behind the criterion", so what is
checked is what is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sievert_reporting.domain.labels import CODE_CATEGORIES, is_child, label
from sievert_shared.decision import ClassificationDecision, Outcome
from sievert_shared.events.reporting import DocumentParticulars, SubmissionKind
from sievert_shared.facts import ExposureKind, IncidentFacts, Modality, Nation

if TYPE_CHECKING:
    from sievert_reporting.domain.documents import Findings

THERAPY = frozenset({Modality.EXTERNAL_BEAM_RADIOTHERAPY, Modality.BRACHYTHERAPY})
ACTIVITY = frozenset({Modality.NUCLEAR_MEDICINE_THERAPY, Modality.SIRT})


@dataclass(frozen=True)
class DocumentInputs:
    """Everything a document is written from."""

    facts: IncidentFacts
    decision: ClassificationDecision
    particulars: DocumentParticulars = field(default_factory=DocumentParticulars)
    findings: Findings | None = None


Reader = Callable[[DocumentInputs], str | None]


@dataclass(frozen=True)
class Item:
    item: str
    label: str
    guidance_lines: tuple[int, ...]
    read: Reader
    #: shown among the facts behind the criterion (the others have sections of their own)
    criterion_fact: bool = True

    def missing(self) -> dict[str, Any]:
        return {"item": self.item, "label": self.label, "guidance_lines": list(self.guidance_lines)}


def split_code(code: str) -> tuple[str, str]:
    """``"ME2.1"`` -> ``("ME", "2.1")``: the complementary prefixes and the category."""
    category = code.lstrip("MEVC")
    return code[: len(code) - len(category)], category


# -- readings -------------------------------------------------------------------------------------


def _num(value: float | int | None, unit: str) -> str | None:
    return None if value is None else f"{value:g} {unit}".rstrip()


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _text(value: str | None) -> str | None:
    return value if value else None


def _listed(values: list[str] | None) -> str | None:
    return "; ".join(values) if values else None


def multiplication_factor(facts: IncidentFacts) -> float | None:
    intended, total = facts.intended_effective_dose_msv, facts.total_effective_dose_msv
    if intended is None or total is None or intended <= 0:
        return None
    return round(total / intended, 2)


def _child(i: DocumentInputs) -> str | None:
    age, nation = i.facts.patient_age_years, i.facts.nation
    if age is None:
        return None
    limit = 16 if nation is Nation.SCOTLAND else 18
    if is_child(age, nation):
        return f"yes: {age} years old (a child is under {limit} in {label(nation)})"
    return f"no: {age} years old (an adult; a child is under {limit} in {label(nation)})"


def _individuals(i: DocumentInputs) -> str | None:
    n = i.facts.individuals_affected
    return None if n is None else str(n)


def _factor(i: DocumentInputs) -> str | None:
    factor = multiplication_factor(i.facts)
    return (
        None
        if factor is None
        else f"{factor:g} times the intended dose (total divided by intended, line 153)"
    )


def _dose_received(i: DocumentInputs) -> str | None:
    """Code 1: the total effective dose, or where it does not fit a recognised alternative unit
    (line 155): the Gy or fractions delivered in therapy, the activity administered."""
    f = i.facts
    if f.total_effective_dose_msv is not None:
        return f"{f.total_effective_dose_msv:g} mSv effective dose"
    if f.rt_delivered_dose_gy is not None:
        return f"{f.rt_delivered_dose_gy:g} Gy absorbed dose delivered"
    if f.rt_fractions_delivered is not None:
        return f"{f.rt_fractions_delivered} treatment fraction(s) delivered"
    if f.nm_delivered_activity_mbq is not None:
        return f"{f.nm_delivered_activity_mbq:g} MBq administered"
    return None


def _course_dose(i: DocumentInputs) -> str | None:
    f = i.facts
    volume = f" to the {label(f.rt_dose_volume)}" if f.rt_dose_volume else ""
    if f.rt_delivered_dose_gy is not None and f.rt_prescribed_dose_gy is not None:
        ratio = f.rt_delivered_dose_gy / f.rt_prescribed_dose_gy
        return (
            f"{f.rt_delivered_dose_gy:g} Gy delivered of {f.rt_prescribed_dose_gy:g} Gy prescribed"
            f"{volume} ({ratio:.3g} times, whole course)"
        )
    if f.rt_course_dose_ratio is not None:
        return f"{f.rt_course_dose_ratio:g} times the intended dose{volume} (whole course)"
    return None


def _fraction_dose(i: DocumentInputs) -> str | None:
    f = i.facts
    if f.rt_max_fraction_delivered_dose_gy is not None and f.rt_prescribed_fraction_dose_gy is not None:
        return (
            f"{f.rt_max_fraction_delivered_dose_gy:g} Gy delivered of {f.rt_prescribed_fraction_dose_gy:g} Gy "
            "prescribed in one fraction"
        )
    if f.rt_max_fraction_dose_ratio is not None:
        return f"{f.rt_max_fraction_dose_ratio:g} times the intended dose in one fraction"
    return None


def _course_or_fraction(i: DocumentInputs) -> str | None:
    return _course_dose(i) or _fraction_dose(i)


def _radiotherapy_dose_estimate(i: DocumentInputs) -> str | None:
    """Lines 155, 232, 246, 248: radiotherapy estimates absorbed dose in Gy, received and intended."""
    f = i.facts
    if f.rt_delivered_dose_gy is None or f.rt_prescribed_dose_gy is None:
        return None
    return _course_dose(i)


def _miss(i: DocumentInputs) -> str | None:
    f = i.facts
    if f.anatomy_error is not None and f.anatomy_error.value != "none":
        return f"treatment of {label(f.anatomy_error)} (read as a total geographical miss, line 349)"
    return label(f.geographical_miss) if f.geographical_miss is not None else None


def _activities(i: DocumentInputs) -> str | None:
    f = i.facts
    prescribed, delivered = f.nm_prescribed_activity_mbq, f.nm_delivered_activity_mbq
    if prescribed is None or delivered is None:
        return None
    change = 100 * (delivered - prescribed) / prescribed
    return f"{delivered:g} MBq delivered of {prescribed:g} MBq prescribed ({change:+.1f}%)"


def _individual_doses(i: DocumentInputs) -> str | None:
    doses = i.particulars.individual_doses
    if not doses:
        return None
    return "; ".join(f"individual {d.individual}: {d.dose:g} {d.unit}" for d in doses)


def _effective_dose_estimate(i: DocumentInputs) -> str | None:
    f = i.facts
    if f.total_effective_dose_msv is None:
        return None
    if f.intended_effective_dose_msv is None and f.exposure_kind is not ExposureKind.ACCIDENTAL:
        return None
    intended = f.intended_effective_dose_msv or 0.0
    return (
        f"{f.total_effective_dose_msv:g} mSv received, {intended:g} mSv intended, "
        f"{max(f.total_effective_dose_msv - intended, 0.0):g} mSv unintended"
    )


def _dose_estimate(i: DocumentInputs) -> str | None:
    """Line 232: an estimate of the dose received, in the unit the modality records it in."""
    modality = i.facts.modality
    if modality in THERAPY:
        return _radiotherapy_dose_estimate(i)
    if modality in ACTIVITY:
        return _activities(i)
    return _effective_dose_estimate(i)


def _code_named(i: DocumentInputs) -> str | None:
    """Line 287: a complementary code comes with a code 1 to 9 (10 for NM therapy, line 201)."""
    codes = i.decision.codes
    if not codes:
        return None
    _, category = split_code(codes[0])
    return codes[0] if category in CODE_CATEGORIES else None


def _voluntary_code(i: DocumentInputs) -> str | None:
    code = _code_named(i)
    return code if code is not None and "V" in split_code(code)[0] else None


def _confirmed(i: DocumentInputs) -> str | None:
    confirmation = i.findings.similar_incidents_confirmation if i.findings is not None else None
    return None if confirmation is None else f"confirmed by {confirmation.confirmed_by_role}"


def _fact(name: str, unit: str = "") -> Reader:
    def read(i: DocumentInputs) -> str | None:
        value = getattr(i.facts, name)
        if value is None:
            return None
        if isinstance(value, bool):
            return _yes_no(value)
        if hasattr(value, "value"):
            return label(value)
        return _num(value, unit)

    return read


def _particular(name: str) -> Reader:
    def read(i: DocumentInputs) -> str | None:
        value = getattr(i.particulars, name)
        if value is None or value == []:
            return None
        if isinstance(value, list):
            return _listed(value)
        if hasattr(value, "isoformat"):
            return str(value.isoformat())
        if hasattr(value, "value"):
            return label(value)
        return str(value)

    return read


def _finding(name: str, *, empty_allowed: bool = False) -> Reader:
    def read(i: DocumentInputs) -> str | None:
        value = getattr(i.findings, name) if i.findings is not None else None
        if isinstance(value, bool):
            return _yes_no(value)
        if isinstance(value, list):
            return "; ".join(value) if value else ("none" if empty_allowed else None)
        return _text(value)

    return read


# -- the items ------------------------------------------------------------------------------------

CODE_1_TO_9 = Item(
    "notification_code",
    "a notification code 1 to 9 (10 for nuclear medicine therapy) naming the exposure category",
    (201, 287),
    _code_named,
    criterion_fact=False,
)
EXPOSURE_KIND = Item("exposure_kind", "the kind of exposure", (53, 55, 57, 59), _fact("exposure_kind"))
INDIVIDUALS = Item(
    "individuals_affected", "the number of individuals exposed", (207, 232, 276, 279), _individuals
)
CHILD = Item("child", "whether the patient is a child (age at the exposure)", (150,), _child)
INTENDED_DOSE = Item(
    "intended_effective_dose",
    "the intended effective dose",
    (153, 162, 163, 164, 165),
    _fact("intended_effective_dose_msv", "mSv"),
)
TOTAL_DOSE = Item(
    "total_effective_dose",
    "the total effective dose from the incident",
    (153,),
    _fact("total_effective_dose_msv", "mSv"),
)
FACTOR = Item("multiplication_factor", "the multiplication factor", (153, 163, 165), _factor)
DOSE_RECEIVED = Item(
    "dose_received",
    "the dose received (effective dose, or a recognised alternative unit)",
    (150, 155),
    _dose_received,
)
EFFECT = Item(
    "deterministic_effect", "the observed deterministic effect", (166, 295), _fact("deterministic_effect")
)
EFFECT_DESCRIPTION = Item(
    "deterministic_effect_description",
    "a description of the observed deterministic effect",
    (166, 295, 296),
    _particular("deterministic_effect_description"),
)
PROCEDURAL_FAILURE = Item(
    "procedural_failure",
    "whether there was a procedural failure",
    (166, 176, 295, 296),
    _fact("procedural_failure"),
)
PLANNING_SCANS = Item(
    "planning_scans",
    "the planning scans performed, including the intended scan",
    (167,),
    _fact("planning_scans", "scans"),
)
IMAGES_IN_FRACTION = Item(
    "verification_images_in_fraction",
    "the imaging exposures in the fraction, including the intended image",
    (170, 314),
    _fact("verification_images_in_fraction", "images"),
)
IMAGES_INTENDED = Item(
    "verification_images_intended",
    "the imaging exposures intended over the course",
    (171, 174),
    _fact("verification_images_intended", "images"),
)
IMAGES_ADDITIONAL = Item(
    "verification_images_additional",
    "the additional imaging exposures over the course",
    (171, 174),
    _fact("verification_images_additional", "images"),
)
IMAGING_CAUSE = Item(
    "verification_imaging_cause",
    "the cause of the additional images",
    (170, 171, 174, 315, 316),
    _fact("verification_imaging_cause"),
)
FOETAL_DOSE = Item("foetal_dose", "the foetal dose", (175,), _fact("foetal_dose_mgy", "mGy"))
INFANT_DOSE = Item(
    "breastfed_infant_dose",
    "the breastfed infant's effective dose",
    (176,),
    _fact("breastfed_infant_effective_dose_msv", "mSv"),
)
RADIOPHARMACEUTICAL_GIVEN = Item(
    "radiopharmaceutical_administered",
    "the radiopharmaceutical administered",
    (177, 334),
    _particular("radiopharmaceutical_administered"),
)
RADIOPHARMACEUTICAL_INTENDED = Item(
    "radiopharmaceutical_intended",
    "the radiopharmaceutical intended",
    (177, 334),
    _particular("radiopharmaceutical_intended"),
)
THERAPY_DOSE = Item(
    "radiotherapy_delivered_dose",
    "the delivered dose against the intended dose (whole course or one fraction)",
    (182, 183),
    _course_or_fraction,
)
DOSE_VOLUME = Item("dose_volume", "the volume the dose describes", (182, 183), _fact("rt_dose_volume"))
MISS = Item("geographical_miss", "the geographical miss (or wrong side or site)", (188, 191, 349), _miss)
MISS_MARGIN = Item(
    "geographical_miss_margin",
    "the size of the miss against the locally defined error margin",
    (191,),
    _fact("geographical_miss_margin_ratio", "times the margin"),
)
ACTIVITIES = Item("activities", "the delivered and prescribed activity", (196, 197), _activities)
INDIVIDUAL_DOSES = Item(
    "individual_doses",
    "the dose received by each exposed individual",
    (232,),
    _individual_doses,
    criterion_fact=False,
)
EQUIPMENT_FAULT = Item(
    "equipment_fault_description",
    "a description of the equipment failure that was the direct cause",
    (252, 285),
    _particular("equipment_fault_description"),
)
VOLUNTARY_REASON = Item(
    "voluntary_reason",
    "the significant or unusual circumstances that make the incident worth sharing",
    (268, 300),
    _particular("voluntary_reason"),
    criterion_fact=False,
)
PRELIMINARY = Item(
    "preliminary_investigation",
    "what the immediate preliminary investigation found",
    (218,),
    _particular("preliminary_investigation"),
    criterion_fact=False,
)
IMMEDIATE_ACTIONS = Item(
    "immediate_actions",
    "the immediate actions taken",
    (218,),
    _particular("immediate_actions"),
    criterion_fact=False,
)

#: The facts each code's criterion is decided on (lines 147-212): the document must show them.
CODE_ITEMS: dict[str, tuple[Item, ...]] = {
    "1": (EXPOSURE_KIND,),  # England adds the dose and the child status: ``_code_1``
    "2.1": (CHILD, INTENDED_DOSE, TOTAL_DOSE),
    "2.2": (INTENDED_DOSE, TOTAL_DOSE, FACTOR),
    "2.3": (INTENDED_DOSE, TOTAL_DOSE),
    "2.4": (INTENDED_DOSE, TOTAL_DOSE, FACTOR),
    "3": (EFFECT, EFFECT_DESCRIPTION, PROCEDURAL_FAILURE),
    "4.1": (PLANNING_SCANS,),
    "4.2a": (IMAGES_IN_FRACTION, IMAGING_CAUSE),
    "4.2b": (IMAGES_INTENDED, IMAGES_ADDITIONAL, IMAGING_CAUSE),
    "4.2c": (IMAGES_INTENDED, IMAGES_ADDITIONAL, IMAGING_CAUSE),
    "5": (FOETAL_DOSE,),
    "6": (INFANT_DOSE, PROCEDURAL_FAILURE),
    "7": (RADIOPHARMACEUTICAL_GIVEN, RADIOPHARMACEUTICAL_INTENDED),
    "8.1": (THERAPY_DOSE, DOSE_VOLUME),
    "8.2": (THERAPY_DOSE, DOSE_VOLUME),
    "9.1": (MISS,),
    "9.2": (MISS, MISS_MARGIN, THERAPY_DOSE),
    "10.1": (ACTIVITIES,),
    "10.2": (ACTIVITIES,),
    "M": (INDIVIDUALS,),
    "E": (EQUIPMENT_FAULT,),
    "V": (VOLUNTARY_REASON,),
    "C": (),
}


def _code_1(facts: IncidentFacts) -> tuple[Item, ...]:
    # England only: 3 mSv adult, 1 mSv child (line 150); elsewhere all, regardless of dose (151).
    return (DOSE_RECEIVED, CHILD) if facts.nation is Nation.ENGLAND else ()


def code_items(inputs: DocumentInputs, *, required_only: bool = True) -> list[Item]:
    """The items behind every code of the decision: each code's category, then its prefixes.

    A category whose own criterion was not met only names the exposure category that a
    complementary code comes with (line 287: M regardless of dose, V below the criteria): its
    facts are shown where known but not required."""
    met = {r.code for r in inputs.decision.reasons if r.outcome is Outcome.MET}
    out: list[Item] = []
    for code in inputs.decision.codes:
        prefixes, category = split_code(code)
        if category in met or not required_only:
            out.extend(CODE_ITEMS.get(category, ()))
            if category == "1":
                out.extend(_code_1(inputs.facts))
        for prefix in prefixes:
            out.extend(CODE_ITEMS[prefix])
    return _unique(out)


# -- per document type ----------------------------------------------------------------------------

REPORT_ITEMS: tuple[Item, ...] = (
    Item("what_happened", "what happened", (231,), _finding("what_happened"), criterion_fact=False),
    Item(
        "estimated_doses",
        "an estimate of the dose received and intended, in the unit the modality records "
        "(radiotherapy: Gy delivered and prescribed; nuclear medicine therapy: MBq)",
        (155, 232, 246, 248),
        _dose_estimate,
        criterion_fact=False,
    ),
    Item(
        "dose_assessment",
        "an assessment of the intended and unintended dose",
        (248,),
        _finding("dose_assessment"),
        criterion_fact=False,
    ),
    Item("root_causes", "the root causes", (233,), _finding("root_causes"), criterion_fact=False),
    Item(
        "contributory_factors",
        "the contributory factors, or an explicit empty list",
        (233,),
        _finding("contributory_factors", empty_allowed=True),
        criterion_fact=False,
    ),
    Item(
        "similar_incidents_confirmed",
        "similar previous incidents and trends, confirmed by a person",
        (234,),
        lambda i: _confirmed(i),
        criterion_fact=False,
    ),
    Item(
        "duty_of_candour_met",
        "whether duty of candour requirements have been met",
        (85, 235),
        _finding("duty_of_candour_met"),
        criterion_fact=False,
    ),
    Item(
        "csaue_procedure_applied",
        "whether the CSAUE procedure (Regulation 8(1), schedule 2(l)) was applied",
        (78, 236),
        _finding("csaue_procedure_applied"),
        criterion_fact=False,
    ),
    Item(
        "learning", "the learning from the investigation", (237,), _finding("learning"), criterion_fact=False
    ),
    Item(
        "learning_shared_how",
        "how the learning has been shared",
        (237,),
        _finding("learning_shared_how"),
        criterion_fact=False,
    ),
    Item(
        "corrective_actions",
        "the corrective measures or remedial actions",
        (238,),
        _finding("corrective_actions"),
        criterion_fact=False,
    ),
)

LICENSING_BREACH_ITEMS: tuple[Item, ...] = (
    Item(
        "licensing_breach",
        "a licensing breach recorded in the facts (outside_arsac_licence) and decided",
        (45, 94, 98),
        lambda i: "yes" if i.decision.licensing_breach else None,
        criterion_fact=False,
    ),
    Item("licence_missing", "whose licence was missing", (89, 91, 92), _particular("licence_missing")),
    Item(
        "radioactive_substance",
        "the radioactive substance administered",
        (94,),
        _particular("radioactive_substance"),
    ),
    Item(
        "administration_purpose",
        "the purpose of the administration the licence did not cover",
        (94,),
        _particular("administration_purpose"),
    ),
    Item(
        "arsac_notified_on",
        "when the ARSAC Support Unit was notified",
        (98,),
        _particular("arsac_notified_on"),
    ),
    INDIVIDUALS,
    PRELIMINARY,
)


def required_items(kind: SubmissionKind, inputs: DocumentInputs) -> list[Item]:
    """Every item the document of ``kind`` needs for this incident, in the document's order."""
    if kind is SubmissionKind.LICENSING_BREACH_NOTIFICATION:
        return list(LICENSING_BREACH_ITEMS)
    if kind is SubmissionKind.INVESTIGATION_REPORT:
        m_code = any("M" in split_code(c)[0] for c in inputs.decision.codes)
        items = [*REPORT_ITEMS[:2], *([INDIVIDUAL_DOSES] if m_code else []), *REPORT_ITEMS[2:]]
        return _unique([CODE_1_TO_9, *items, *code_items(inputs)])
    code = CODE_1_TO_9
    if kind is SubmissionKind.VOLUNTARY_NOTIFICATION:
        code = Item(
            "voluntary_code",
            "code V with a code 1 to 9 naming the exposure category: the voluntary offer recorded in the facts",
            (211, 266, 287),
            _voluntary_code,
            criterion_fact=False,
        )
    return _unique([code, INDIVIDUALS, *code_items(inputs), PRELIMINARY, IMMEDIATE_ACTIONS])


def missing_items(kind: SubmissionKind, inputs: DocumentInputs) -> list[dict[str, Any]]:
    """``[{item, label, guidance_lines}]`` for every item the document lacks; empty when complete."""
    return [item.missing() for item in required_items(kind, inputs) if item.read(inputs) is None]


def criterion_facts(inputs: DocumentInputs, items: Iterable[Item] | None = None) -> list[tuple[Item, str]]:
    """The facts behind the codes that are known, with their reading in words: what the document
    shows under "facts behind the criterion". The child status shows whenever the age is known."""
    chosen = (
        list(items) if items is not None else [EXPOSURE_KIND, *code_items(inputs, required_only=False), CHILD]
    )
    return [(item, value) for item in _unique(chosen) if item.criterion_fact and (value := item.read(inputs))]


def _unique(items: Iterable[Item]) -> list[Item]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.item not in seen:
            seen.add(item.item)
            out.append(item)
    return out
