"""The notification criteria, one pure function per criterion.

Each rule takes a ``Case`` and returns a ``Finding`` (met, not met, or the facts it
still needs), or ``None`` when the criterion does not apply to the case. ``@applies``
declares the exposure kinds and modalities a rule is about; rulesets call a rule only
for those, so the bodies hold the criterion alone. Thresholds come from the case's
ruleset, so one function serves every ruleset that words the criterion the same way. Line numbers refer to cqc-irmer-notification-guidance-2023.txt.
"""

from __future__ import annotations

from decimal import Decimal

from sievert_classifier.domain.model import WRONG_ANATOMY, Case, Finding, applies, dec
from sievert_shared.decision import FactValue, Outcome
from sievert_shared.facts import (
    DeterministicEffect,
    DoseVolume,
    ExposureKind,
    GeographicalMiss,
    Modality,
    Nation,
    VerificationImagingCause,
)

# Enum members go into reasons' facts as they are: they are str (StrEnum), and the
# Reason model stores them as plain strings.
MET = Outcome.MET
NOT_MET = Outcome.NOT_MET
NEEDS = Outcome.NEEDS_FACTS

ACCIDENTAL = ExposureKind.ACCIDENTAL
UNINTENDED = ExposureKind.UNINTENDED
#: Exposures IR(ME)R Regulation 8 is about (line 51-59); near misses exposed nobody.
EXPOSED = frozenset({ACCIDENTAL, UNINTENDED})

#: Line 159: codes 2.1-2.4 cover "all modalities including nuclear medicine and
#: radiotherapy imaging". Therapy doses have their own codes (8-10).
#:
#: Interventional radiology and cardiology is dose-banded too, as well as judged by code 3.
#: A choice: line 291-296 can be read as replacing the dose bands for interventional work
#: ("determining the extent of any 'unintended' dose ... is complex", so "the following must
#: be reported"), but it lists what "must be reported" without exempting anything, line 159
#: says "all modalities", and code 3 sits in the same table as 2.1-2.4. Reading the deterministic
#: effects as an addition keeps an unintended interventional exposure of, say, 60 mSv against
#: an intended 5 mSv notifiable (2.3), where the other reading would let it pass unreported.
DOSE_BANDED = frozenset(
    {
        Modality.RADIOGRAPHY,
        Modality.FLUOROSCOPY,
        Modality.CT,
        Modality.MAMMOGRAPHY,
        Modality.DENTAL,
        Modality.INTERVENTIONAL,
        Modality.DIAGNOSTIC_NUCLEAR_MEDICINE,
        Modality.RADIOTHERAPY_PLANNING_IMAGING,
        Modality.RADIOTHERAPY_VERIFICATION_IMAGING,
    }
)
NUCLEAR_MEDICINE = frozenset(
    {Modality.DIAGNOSTIC_NUCLEAR_MEDICINE, Modality.NUCLEAR_MEDICINE_THERAPY, Modality.SIRT}
)
#: Codes 8 and 9: radiotherapy "including brachytherapy" (line 179, 185).
RADIOTHERAPY = frozenset({Modality.EXTERNAL_BEAM_RADIOTHERAPY, Modality.BRACHYTHERAPY})
#: Nuclear medicine therapies, judged on activity (codes 10.1, 10.2, line 196-197).
NM_THERAPY = frozenset({Modality.NUCLEAR_MEDICINE_THERAPY, Modality.SIRT})

#: Line 322: an incorrect set-up is itself "a result of protocol failure", and line 323's
#: incorrect immobilisation counts against the course threshold, so both causes feed
#: 4.2a (single fraction) and 4.2b (course).
PROTOCOL_CAUSES = frozenset(
    {VerificationImagingCause.SET_UP_ERROR, VerificationImagingCause.PROTOCOL_FAILURE}
)
EQUIPMENT_CAUSES = frozenset(
    {VerificationImagingCause.THEMATIC_EQUIPMENT_FAILURE, VerificationImagingCause.EQUIPMENT_FAILURE}
)


def _verdict(key: str, facts: dict[str, FactValue], field: str, met: bool | None) -> Finding:
    """A finding for a criterion on one fact: ``met`` is ``None`` while ``field`` is unknown."""
    if met is None:
        return Finding(key, NEEDS, facts, (field,))
    return Finding(key, MET if met else NOT_MET, facts)


# --- Accidental exposure --------------------------------------------------------------


@applies(kinds=[ACCIDENTAL])
def code_1(c: Case) -> Finding | None:
    """Code 1, accidental exposure (line 150-151); all modalities including therapy."""
    f = c.facts
    if f.nation is not Nation.ENGLAND:
        # Line 151: Northern Ireland, Scotland and Wales notify all, regardless of dose.
        # The age of a child therefore never matters for code 1 outside England.
        return Finding("1-all", MET, {"nation": f.nation})
    rs = c.rs
    dose = f.total_effective_dose_msv
    if dose is None and (f.modality in RADIOTHERAPY or f.modality in NM_THERAPY):
        return _code_1_therapy(c)
    facts: dict[str, FactValue] = {"nation": f.nation, "total_effective_dose_msv": dose}
    if dose is None:
        return Finding("1-england", NEEDS, facts, ("total_effective_dose_msv",))
    # Line 150: "3 mSv effective dose or above (adult), 1 mSv ... or above (child)".
    if dose >= rs.adult_threshold_msv:
        return Finding("1-england", MET, facts)
    if dose < rs.child_threshold_msv:
        return Finding("1-england", NOT_MET, facts)
    facts["patient_age_years"] = f.patient_age_years
    facts["child"] = c.child
    if c.child is None:
        return Finding("1-england", NEEDS, facts, ("patient_age_years",))
    return Finding("1-england", MET if c.child else NOT_MET, facts)


def _code_1_therapy(c: Case) -> Finding:
    """Code 1 in England for a therapy given to the wrong patient, without an effective dose.

    Line 155 and 246: where an effective dose in mSv does not fit, a recognised alternative unit
    is used, and radiotherapy records its dose in Gy to a target, in fractions, or as a course.
    A choice: any therapeutic delivery to a patient for whom no exposure was intended is read as
    meeting "3 mSv or above (adult), 1 mSv or above (child)", because a treatment dose is far
    above either; no effective dose is estimated from the Gy or MBq. Nothing delivered (0 Gy,
    0 fractions, or 0 MBq) does not meet it. The guidance gives no Gy threshold, so this choice
    errs towards notifying.
    """
    f = c.facts
    facts: dict[str, FactValue] = {"nation": f.nation, "modality": f.modality}
    if f.modality in RADIOTHERAPY:
        gray = f.rt_delivered_dose_gy
        fractions = f.rt_fractions_delivered
        facts["rt_delivered_dose_gy"] = gray
        facts["rt_fractions_delivered"] = fractions
        facts["rt_whole_course_delivered"] = f.rt_whole_course_delivered
        if f.rt_whole_course_delivered or (fractions is not None and fractions >= 1) or (gray or 0) > 0:
            return Finding("1-england-therapy", MET, facts)
        if gray == 0 or fractions == 0:
            return Finding("1-england-therapy", NOT_MET, facts)
        return Finding("1-england-therapy", NEEDS, facts, ("rt_delivered_dose_gy",))
    activity = f.nm_delivered_activity_mbq
    facts["nm_delivered_activity_mbq"] = activity
    return _verdict(
        "1-england-therapy", facts, "nm_delivered_activity_mbq", None if activity is None else activity > 0
    )


# --- Unintended exposure, dose bands 2.1-2.4 -----------------------------------------


@applies(kinds=[UNINTENDED], modalities=DOSE_BANDED)
def code_2_band(c: Case) -> Finding | None:
    """Codes 2.1-2.4 before the intended dose is known: it picks the band (line 162-165)."""
    f = c.facts
    if f.intended_effective_dose_msv is not None:
        return None
    rs = c.rs
    total = f.total_effective_dose_msv
    facts: dict[str, FactValue] = {"intended_effective_dose_msv": None, "total_effective_dose_msv": total}
    # No band can be met below the lowest threshold any band could need: 1 mSv for a child
    # (2.1), or 3 mSv for an adult (2.1, and 10 x 0.3 mSv for 2.2; 2.3 and 2.4 need 25 mSv).
    if total is not None and (
        total < rs.child_threshold_msv or (c.child is False and total < rs.adult_threshold_msv)
    ):
        facts["child"] = c.child
        return Finding("2", NOT_MET, facts)
    return Finding("2", NEEDS, facts, ("intended_effective_dose_msv",))


@applies(kinds=[UNINTENDED], modalities=DOSE_BANDED)
def code_2_1(c: Case) -> Finding | None:
    """Code 2.1: intended dose less than 0.3 mSv; 3 mSv or above (adult), 1 mSv (child)."""
    f = c.facts
    intended = f.intended_effective_dose_msv
    rs = c.rs
    if intended is None or intended >= rs.band_2_2_from_msv:
        return None
    total = f.total_effective_dose_msv
    facts: dict[str, FactValue] = {"intended_effective_dose_msv": intended, "total_effective_dose_msv": total}
    if total is None:
        return Finding("2.1", NEEDS, facts, ("total_effective_dose_msv",))
    if total >= rs.adult_threshold_msv:
        return Finding("2.1", MET, facts)
    if total < rs.child_threshold_msv:
        return Finding("2.1", NOT_MET, facts)
    # The "(child)" of 2.1 uses line 150's definition, so in Scotland a 16- or 17-year-old
    # is an adult here; this is where the Scottish age matters (code 1 there is all doses).
    facts["patient_age_years"] = f.patient_age_years
    facts["nation"] = f.nation
    facts["child"] = c.child
    if c.child is None:
        return Finding("2.1", NEEDS, facts, ("patient_age_years",))
    return Finding("2.1", MET if c.child else NOT_MET, facts)


def _factor_finding(c: Case, key: str, intended: float, factor: Decimal) -> Finding:
    total = c.facts.total_effective_dose_msv
    facts: dict[str, FactValue] = {"intended_effective_dose_msv": intended, "total_effective_dose_msv": total}
    if total is None:
        return Finding(key, NEEDS, facts, ("total_effective_dose_msv",))
    # Line 153: the multiplication factor is the total dose from the incident divided by
    # the intended dose. Compared exactly in decimal: total >= factor x intended.
    facts["multiplication_factor"] = round(total / intended, 6)
    met = dec(total) >= factor * dec(intended)
    return Finding(key, MET if met else NOT_MET, facts)


@applies(kinds=[UNINTENDED], modalities=DOSE_BANDED)
def code_2_2(c: Case) -> Finding | None:
    """Code 2.2: intended dose between 0.3 and 2.5 mSv; 10 or more times intended (line 163)."""
    intended = c.facts.intended_effective_dose_msv
    rs = c.rs
    # Band [0.3, 2.5): 0.3 is not "less than 0.3" (2.1), and 2.5 starts 2.3.
    if intended is None or not rs.band_2_2_from_msv <= intended < rs.band_2_3_from_msv:
        return None
    return _factor_finding(c, "2.2", intended, rs.factor_2_2)


@applies(kinds=[UNINTENDED], modalities=DOSE_BANDED)
def code_2_3(c: Case) -> Finding | None:
    """Code 2.3: intended dose between 2.5 and 10 mSv; 25 mSv or above (line 164)."""
    f = c.facts
    intended = f.intended_effective_dose_msv
    rs = c.rs
    # Band [2.5, 10]: 10 is not "more than 10" (2.4), so it stays here.
    if intended is None or not rs.band_2_3_from_msv <= intended <= rs.band_2_4_above_msv:
        return None
    total = f.total_effective_dose_msv
    facts: dict[str, FactValue] = {"intended_effective_dose_msv": intended, "total_effective_dose_msv": total}
    met = None if total is None else total >= rs.threshold_2_3_msv
    return _verdict("2.3", facts, "total_effective_dose_msv", met)


@applies(kinds=[UNINTENDED], modalities=DOSE_BANDED)
def code_2_4(c: Case) -> Finding | None:
    """Code 2.4: intended dose more than 10 mSv; 2.5 or more times intended (line 165)."""
    intended = c.facts.intended_effective_dose_msv
    rs = c.rs
    if intended is None or intended <= rs.band_2_4_above_msv:
        return None
    return _factor_finding(c, "2.4", intended, rs.factor_2_4)


# --- Interventional radiology and cardiology -----------------------------------------


@applies(kinds=[UNINTENDED], modalities=[Modality.INTERVENTIONAL])
def code_3(c: Case) -> Finding | None:
    """Code 3: observable deterministic effects, excluding transient erythema (line 166, 295-296)."""
    f = c.facts
    effect = f.deterministic_effect
    facts: dict[str, FactValue] = {"deterministic_effect": effect}
    if effect is None:
        return Finding("3", NEEDS, facts, ("deterministic_effect",))
    if effect is not DeterministicEffect.OTHER:
        # Line 295: transient erythema is excluded; no effect, nothing to report.
        return Finding("3", NOT_MET, facts)
    failure = f.procedural_failure
    anticipated = f.deterministic_effect_anticipated
    facts["procedural_failure"] = failure
    facts["deterministic_effect_anticipated"] = anticipated
    # Line 295: any procedural failure with an effect; line 296: without one, only an
    # effect that was unintended or unpredicted.
    if failure is True or anticipated is False:
        return Finding("3", MET, facts)
    if failure is False and anticipated is True:
        return Finding("3", NOT_MET, facts)
    needs = tuple(
        name
        for name, value in (
            ("procedural_failure", failure),
            ("deterministic_effect_anticipated", anticipated),
        )
        if value is None
    )
    return Finding("3", NEEDS, facts, needs)


# --- Radiotherapy imaging ------------------------------------------------------------


@applies(kinds=[UNINTENDED], modalities=[Modality.RADIOTHERAPY_PLANNING_IMAGING])
def code_4_1(c: Case) -> Finding | None:
    """Code 4.1: 3 planning scans in total, including the intended scan (line 167)."""
    scans = c.facts.planning_scans
    met = None if scans is None else scans >= c.rs.planning_scans
    return _verdict("4.1", {"planning_scans": scans}, "planning_scans", met)


_verification = applies(kinds=[UNINTENDED], modalities=[Modality.RADIOTHERAPY_VERIFICATION_IMAGING])


@_verification
def code_4_2a(c: Case) -> Finding | None:
    """Code 4.2a: set-up error leads to 3 or more images in a single fraction (line 170, 314, 322)."""
    f = c.facts
    images = f.verification_images_in_fraction
    cause = f.verification_imaging_cause
    facts: dict[str, FactValue] = {
        "verification_images_in_fraction": images,
        "verification_imaging_cause": cause,
    }
    if images is None:
        return Finding("4.2a", NEEDS, facts, ("verification_images_in_fraction",))
    if images < c.rs.images_in_fraction:
        return Finding("4.2a", NOT_MET, facts)
    if cause is None:
        return Finding("4.2a", NEEDS, facts, ("verification_imaging_cause",))
    return Finding("4.2a", MET if cause in PROTOCOL_CAUSES else NOT_MET, facts)


def _course_facts(c: Case) -> tuple[dict[str, FactValue], tuple[str, ...], bool | None]:
    """Additional images over the course against the ruleset's fraction of those intended."""
    f = c.facts
    intended = f.verification_images_intended
    additional = f.verification_images_additional
    facts: dict[str, FactValue] = {
        "verification_images_intended": intended,
        "verification_images_additional": additional,
        "verification_imaging_cause": f.verification_imaging_cause,
    }
    needs = tuple(
        name
        for name, value in (
            ("verification_images_intended", intended),
            ("verification_images_additional", additional),
        )
        if value is None
    )
    if intended is None or additional is None:
        return facts, needs, None
    share = c.rs.additional_images_fraction
    # "50% greater than intended" is read inclusively: line 323 says the old 20% threshold
    # "would have triggered a notification with only 1 additional image" in 5 fractions,
    # i.e. at exactly 20%. Integer arithmetic keeps the boundary exact.
    over = additional >= 1 and additional * share.denominator >= intended * share.numerator
    if intended:
        facts["additional_share"] = round(additional / intended, 6)
    return facts, needs, over


@_verification
def code_4_2b(c: Case) -> Finding | None:
    """Code 4.2b: additional images 50% over intended over the course, protocol failure (line 171)."""
    cause = c.facts.verification_imaging_cause
    facts, needs, over = _course_facts(c)
    if cause is not None and cause not in PROTOCOL_CAUSES:
        return Finding("4.2b", NOT_MET, facts)
    if over is False:
        return Finding("4.2b", NOT_MET, facts)
    if cause is None:
        return Finding("4.2b", NEEDS, facts, (*needs, "verification_imaging_cause"))
    if over is None:
        return Finding("4.2b", NEEDS, facts, needs)
    return Finding("4.2b", MET, facts)


@_verification
def code_4_2c(c: Case) -> Finding | None:
    """Code 4.2c: additional images 50% over intended, thematic hardware or software failure (line 174)."""
    f = c.facts
    rs = c.rs
    cause = f.verification_imaging_cause
    facts, needs, over = _course_facts(c)
    if f.verification_images_additional == 0:
        return Finding("4.2c", NOT_MET, facts)
    if cause is None:
        return Finding("4.2c", NEEDS, facts, ("verification_imaging_cause",))
    if cause not in EQUIPMENT_CAUSES:
        return Finding("4.2c", NOT_MET, facts)
    if not rs.course_needs_thematic_equipment:
        # Before April 2023 any "equipment error" counted (line 308).
        if over is None:
            return Finding("4.2c", NEEDS, facts, needs)
        return Finding("4.2c", MET if over else NOT_MET, facts)
    # Line 318: a persistent fault is thematic; line 324: so is the same fault on different
    # days of one patient's course ("3 additional images were acquired on different days due to
    # a MLC fault"), and "the same MLC fault affects 3 or more patients", which is notifiable
    # even when each patient's course has fewer additional images than the 50% threshold.
    individuals = c.individuals
    facts["individuals"] = individuals
    widespread = individuals is not None and individuals >= rs.thematic_patients
    additional = f.verification_images_additional
    if widespread and additional is not None and additional >= 1:
        return Finding("4.2c", MET, facts)
    thematic = (
        True if cause is VerificationImagingCause.THEMATIC_EQUIPMENT_FAILURE else f.equipment_fault_thematic
    )
    facts["equipment_fault_thematic"] = thematic
    if over is False or thematic is False:
        # Only the same fault in 3 or more patients could still meet it.
        if individuals is None:
            return Finding("4.2c", NEEDS, facts, ("individuals_affected",))
        return Finding("4.2c", NOT_MET, facts)
    # Whether a fault is thematic is the employer's judgement (line 318): asked, never assumed.
    missing = (*needs, "equipment_fault_thematic") if thematic is None else needs
    if missing:
        return Finding("4.2c", NEEDS, facts, missing)
    return Finding("4.2c", MET, facts)


# --- Foetus, breastfed infant and radiopharmaceutical ---------------------------------


@applies(kinds=EXPOSED)
def code_5(c: Case) -> Finding | None:
    """Code 5: unintended foetal exposure, 10 mGy or more (line 175, 326-330).

    Applies to accidental and unintended exposures of a pregnant patient: the foetus
    was never meant to be exposed. It is asked about only when a pregnancy or a
    foetal dose is recorded; there is no foetus to ask about otherwise.
    """
    f = c.facts
    dose = f.foetal_dose_mgy
    if dose is None and f.patient_pregnant is not True:
        return None
    rs = c.rs
    facts: dict[str, FactValue] = {"foetal_dose_mgy": dose}
    if dose is None:
        return Finding("5", NEEDS, facts, ("foetal_dose_mgy",))
    # Line 175 "10mGy or more" is the criterion; line 330's "over 10 mGy" is prose about
    # it, so exactly 10 mGy is notifiable. Before 2023, 1 mGy with a procedural failure.
    if dose < rs.foetal_threshold_mgy:
        return Finding("5", NOT_MET, facts)
    if not rs.foetal_needs_procedural_failure:
        return Finding("5", MET, facts)
    failure = f.procedural_failure
    facts["procedural_failure"] = failure
    if failure is None:
        return Finding("5", NEEDS, facts, ("procedural_failure",))
    return Finding("5", MET if failure else NOT_MET, facts)


@applies(kinds=EXPOSED, modalities=NUCLEAR_MEDICINE)
def code_6(c: Case) -> Finding | None:
    """Code 6: breastfed infant, nuclear medicine only; procedural failure and 1 mSv or more (line 176)."""
    f = c.facts
    dose = f.breastfed_infant_effective_dose_msv
    if dose is None and f.patient_breastfeeding is not True:
        return None
    failure = f.procedural_failure
    facts: dict[str, FactValue] = {"breastfed_infant_effective_dose_msv": dose, "procedural_failure": failure}
    if failure is False or (dose is not None and dose < c.rs.infant_threshold_msv):
        return Finding("6", NOT_MET, facts)
    needs = tuple(
        name
        for name, value in (("breastfed_infant_effective_dose_msv", dose), ("procedural_failure", failure))
        if value is None
    )
    return Finding("6", NEEDS, facts, needs) if needs else Finding("6", MET, facts)


@applies(kinds=[UNINTENDED], modalities=NUCLEAR_MEDICINE)
def code_7(c: Case) -> Finding | None:
    """Code 7: any administration of the incorrect radiopharmaceutical, regardless of dose (line 177, 334).

    Unintended exposures only: giving any radiopharmaceutical to the wrong patient is an
    accidental exposure, judged under code 1.
    """
    wrong = c.facts.incorrect_radiopharmaceutical
    return _verdict("7", {"incorrect_radiopharmaceutical": wrong}, "incorrect_radiopharmaceutical", wrong)


@applies(kinds=[UNINTENDED], modalities=NUCLEAR_MEDICINE)
def code_7_not_in_ruleset(c: Case) -> Finding | None:
    """Before 19 April 2023 there was no code 7 (line 10, 334): a wrong radiopharmaceutical
    is judged on dose like any other unintended exposure. Recorded so the reader sees why."""
    if c.facts.incorrect_radiopharmaceutical is not True:
        return None
    return Finding("7-absent", NOT_MET, {"incorrect_radiopharmaceutical": True})


# --- Radiotherapy delivered dose and geographical miss --------------------------------


_radiotherapy = applies(kinds=[UNINTENDED], modalities=RADIOTHERAPY)


def _at_least(ratio: float | None, given: float | None, intended: float | None, factor: float) -> bool | None:
    """``ratio >= factor``; without the ratio, from the doses in Gy: ``given >= factor x intended``,
    exactly in decimal. A ratio given is used as given; the Gy only fill its absence."""
    if ratio is not None:
        return ratio >= factor
    if given is None or intended is None:
        return None
    return dec(given) >= dec(factor) * dec(intended)


def _at_most(ratio: float | None, given: float | None, intended: float | None, factor: float) -> bool | None:
    """``ratio <= factor``, or from the doses in Gy as ``_at_least``."""
    if ratio is not None:
        return ratio <= factor
    if given is None or intended is None:
        return None
    return dec(given) <= dec(factor) * dec(intended)


def _over(c: Case) -> tuple[bool | None, tuple[str, ...]]:
    """Code 8.1's dose factors: 1.1x the course or 1.2x any fraction, PTV or OAR (line 182)."""
    f = c.facts
    rs = c.rs
    course = _at_least(
        f.rt_course_dose_ratio, f.rt_delivered_dose_gy, f.rt_prescribed_dose_gy, rs.rt_course_over
    )
    fraction = _at_least(
        f.rt_max_fraction_dose_ratio,
        f.rt_max_fraction_delivered_dose_gy,
        f.rt_prescribed_fraction_dose_gy,
        rs.rt_fraction_over,
    )
    if course or fraction:
        return True, ()
    needs = tuple(
        name
        for name, value in (("rt_course_dose_ratio", course), ("rt_max_fraction_dose_ratio", fraction))
        if value is None
    )
    return (None, needs) if needs else (False, ())


def _under(c: Case) -> tuple[bool | None, tuple[str, ...]]:
    """Code 8.2's dose factor: 0.9x or less over the course, to the PTV only (line 183)."""
    f = c.facts
    course = _at_most(
        f.rt_course_dose_ratio, f.rt_delivered_dose_gy, f.rt_prescribed_dose_gy, c.rs.rt_course_under
    )
    if course is None:
        return None, ("rt_course_dose_ratio",)
    if not course:
        return False, ()
    if f.rt_dose_volume is None:
        return None, ("rt_dose_volume",)
    return f.rt_dose_volume is DoseVolume.PTV, ()


def _rt_facts(c: Case) -> dict[str, FactValue]:
    f = c.facts
    facts: dict[str, FactValue] = {
        "rt_course_dose_ratio": f.rt_course_dose_ratio,
        "rt_max_fraction_dose_ratio": f.rt_max_fraction_dose_ratio,
        "rt_dose_volume": f.rt_dose_volume,
    }
    # The doses in Gy, when recorded, and the ratios they give where no ratio was.
    for name in _RT_GRAY:
        value = getattr(f, name)
        if value is not None:
            facts[name] = value
    if f.rt_course_dose_ratio is None and f.rt_delivered_dose_gy is not None and f.rt_prescribed_dose_gy:
        facts["course_ratio_from_gy"] = round(f.rt_delivered_dose_gy / f.rt_prescribed_dose_gy, 6)
    if (
        f.rt_max_fraction_dose_ratio is None
        and f.rt_max_fraction_delivered_dose_gy is not None
        and f.rt_prescribed_fraction_dose_gy
    ):
        facts["fraction_ratio_from_gy"] = round(
            f.rt_max_fraction_delivered_dose_gy / f.rt_prescribed_fraction_dose_gy, 6
        )
    return facts


_RT_GRAY = (
    "rt_prescribed_dose_gy",
    "rt_delivered_dose_gy",
    "rt_prescribed_fraction_dose_gy",
    "rt_max_fraction_delivered_dose_gy",
)


@_radiotherapy
def code_8_1(c: Case) -> Finding | None:
    """Code 8.1: therapy over-exposure, 1.1x course or 1.2x any fraction (line 182)."""
    over, needs = _over(c)
    facts = _rt_facts(c)
    if over is None:
        return Finding("8.1", NEEDS, facts, needs)
    return Finding("8.1", MET if over else NOT_MET, facts)


@_radiotherapy
def code_8_2(c: Case) -> Finding | None:
    """Code 8.2: therapy under-exposure of the PTV, 0.9x or less over the course,
    excluding geographical misses (line 183, 338-345)."""
    under, needs = _under(c)
    facts = _rt_facts(c)
    f = c.facts
    miss = f.geographical_miss
    facts["geographical_miss"] = miss
    if f.anatomy_error is not None:
        facts["anatomy_error"] = f.anatomy_error
    if under is None:
        return Finding("8.2", NEEDS, facts, needs)
    if not under:
        return Finding("8.2", NOT_MET, facts)
    # Line 183: an under-dose caused by a geographical miss is reported under 9.1 or 9.2, and
    # a wrong side or site is a total miss of the intended target (see code_9_1).
    if f.anatomy_error in WRONG_ANATOMY:
        return Finding("8.2", NOT_MET, facts)
    if miss is None:
        return Finding("8.2", NEEDS, facts, ("geographical_miss",))
    return Finding("8.2", MET if miss is GeographicalMiss.NONE else NOT_MET, facts)


@_radiotherapy
def code_9_1(c: Case) -> Finding | None:
    """Code 9.1: all total geographical misses, even for a single fraction (line 188).

    A treatment of the wrong side or site (line 347-349) is read as a total geographical miss:
    the dose went wholly outside the intended target. So it is notifiable without an effective
    dose, which radiotherapy does not have (line 155, 246).
    """
    f = c.facts
    miss = f.geographical_miss
    facts: dict[str, FactValue] = {"geographical_miss": miss}
    if f.anatomy_error is not None:
        facts["anatomy_error"] = f.anatomy_error
        if f.anatomy_error in WRONG_ANATOMY:
            return Finding("9.1", MET, facts)
    met = None if miss is None else miss is GeographicalMiss.TOTAL
    return _verdict("9.1", facts, "geographical_miss", met)


@_radiotherapy
def code_9_2(c: Case) -> Finding | None:
    """Code 9.2: a partial miss over 2.5x the local margin AND the 8.1/8.2 dose factors
    exceeded for the PTV or OARs (line 191)."""
    if c.facts.geographical_miss is not GeographicalMiss.PARTIAL:
        return None
    f = c.facts
    margin = f.geographical_miss_margin_ratio
    facts = _rt_facts(c)
    facts["geographical_miss"] = GeographicalMiss.PARTIAL
    facts["geographical_miss_margin_ratio"] = margin
    # "Exceeds 2.5 times" is strict: a miss of exactly 2.5x the margin is not 9.2.
    if margin is not None and margin <= c.rs.miss_margin_factor:
        return Finding("9.2", NOT_MET, facts)
    # "Exceeded" dose factors read as "8.1 or 8.2 met", with 8.2's miss exclusion lifted.
    over, over_needs = _over(c)
    under, under_needs = _under(c)
    dose = True if over or under else (False if over is False and under is False else None)
    if dose is False:
        return Finding("9.2", NOT_MET, facts)
    if margin is None:
        return Finding("9.2", NEEDS, facts, ("geographical_miss_margin_ratio",))
    if dose is None:
        return Finding("9.2", NEEDS, facts, tuple(dict.fromkeys((*over_needs, *under_needs))))
    return Finding("9.2", MET, facts)


# --- Nuclear medicine therapy ---------------------------------------------------------


def _activity(c: Case, key: str, tolerance: Decimal) -> Finding:
    f = c.facts
    prescribed = f.nm_prescribed_activity_mbq
    delivered = f.nm_delivered_activity_mbq
    facts: dict[str, FactValue] = {
        "nm_prescribed_activity_mbq": prescribed,
        "nm_delivered_activity_mbq": delivered,
    }
    if prescribed is None or delivered is None:
        needs = tuple(
            name
            for name, value in (
                ("nm_prescribed_activity_mbq", prescribed),
                ("nm_delivered_activity_mbq", delivered),
            )
            if value is None
        )
        return Finding(key, NEEDS, facts, needs)
    facts["delivered_to_prescribed"] = round(delivered / prescribed, 6)
    # "Outside +/- 20%": exactly 20% off is inside the tolerance, so not notifiable.
    p = dec(prescribed)
    met = abs(dec(delivered) - p) > tolerance * p
    return Finding(key, MET if met else NOT_MET, facts)


@applies(kinds=[UNINTENDED], modalities=[Modality.SIRT])
def code_10_1(c: Case) -> Finding | None:
    """Code 10.1: SIRT delivered activity outside +/- 20% of prescribed (line 196)."""
    return _activity(c, "10.1", c.rs.sirt_tolerance)


@applies(kinds=[UNINTENDED], modalities=[Modality.NUCLEAR_MEDICINE_THERAPY])
def code_10_2(c: Case) -> Finding | None:
    """Code 10.2: other NM therapy delivered activity outside +/- 10% of prescribed (line 197)."""
    return _activity(c, "10.2", c.rs.nm_therapy_tolerance)


# --- Scope notes ----------------------------------------------------------------------


@applies(kinds=[ExposureKind.NEAR_MISS, ExposureKind.OCCUPATIONAL, ExposureKind.PUBLIC])
def scope(c: Case) -> Finding | None:
    """Near misses and worker or public exposures cannot be SAUEs; say so, with the citation."""
    kind = c.facts.exposure_kind
    key = "near-miss" if kind is ExposureKind.NEAR_MISS else "not-medical"
    return Finding(key, NOT_MET, {"exposure_kind": kind})


@applies(kinds=[UNINTENDED])
def anatomy(c: Case) -> Finding | None:
    """A wrong side or site is an unintended exposure: the dose criteria apply (line 59-62, 347-349).

    Recorded so the reader sees why an exposure recorded as accidental was judged as unintended.
    """
    f = c.facts
    if f.anatomy_error not in WRONG_ANATOMY:
        return None
    return Finding("anatomy", MET, {"anatomy_error": f.anatomy_error, "exposure_kind": f.exposure_kind})


# --- Complementary codes --------------------------------------------------------------


@applies(kinds=EXPOSED)
def code_m(c: Case) -> Finding | None:
    """M: more than one individual in the same incident or theme, regardless of dose (line 207, 276)."""
    n = c.individuals
    facts: dict[str, FactValue] = {"individuals": n}
    return _verdict("M", facts, "individuals_affected", None if n is None else n > 1)


@applies(kinds=EXPOSED)
def code_e(c: Case) -> Finding | None:
    """E: an equipment failure was the direct cause (line 210, 285); the device is named.

    A label: asking whether equipment was at fault never holds the notification open.
    """
    f = c.facts
    fault = f.equipment_fault
    facts: dict[str, FactValue] = {"equipment_fault": fault}
    if fault:
        facts.update(
            equipment_type=f.equipment_type,
            equipment_manufacturer=f.equipment_manufacturer,
            equipment_model=f.equipment_model,
        )
    return _verdict("E", facts, "equipment_fault", fault)


@applies(kinds=EXPOSED)
def code_c(c: Case) -> Finding | None:
    """C: clinically significant (CSAUE), a statutory notification in itself (line 78, 212)."""
    significant = c.facts.clinically_significant
    return _verdict("C", {"clinically_significant": significant}, "clinically_significant", significant)


@applies(kinds=[ACCIDENTAL, UNINTENDED, ExposureKind.NEAR_MISS])
def code_v(c: Case) -> Finding | None:
    """V: offered voluntarily for learning, including near misses (line 211, 266-268, 300).

    Offering is the employer's choice, not a fact to establish, so only an offer is recorded.
    """
    if c.facts.voluntary is not True:
        return None
    return Finding("V", MET, {"voluntary": True})


# --- A patient's cumulative dose (UKHSA/BIR joint position statement, July 2023) --------

#: The reason that shows earlier exposures of the same area as context, and the reason of the
#: position's exception. Cited from ukhsa-bir-cumulative-dose-position-2023.txt, not the guidance.
CUMULATIVE_DOSE = "cumulative-dose"
CUMULATIVE_DOSE_EXCEPTION = "cumulative-dose-exception"


@applies(kinds=EXPOSED)
def cumulative_dose(c: Case) -> Finding | None:
    """Earlier exposures of the same area, shown with the decision and never gating it.

    Position line 15: the decision to expose "should be based on clinical need rather than the
    dose from previous exposures"; the notification criteria judge this exposure alone. Line 35
    names the exception: "multiple high dose interventional (or CT perfusion) procedures exposing
    the same area, over a short time period, and where deterministic effects are expected". Then
    the earlier doses are flagged for justifying and optimising the next exposure of that area;
    the notification still does not change (docs/classifier.md, "Cumulative dose"). "High dose"
    and "short" are not quantified by the position, so the exception rests on the practitioner's
    ``deterministic_effects_expected``, which only a high dose over a short period gives.
    """
    f = c.facts
    earlier = f.prior_same_area_exposures
    if earlier is None:
        return None  # the common path: one attribute read
    facts: dict[str, FactValue] = {
        "prior_same_area_exposures": earlier,
        "prior_same_area_period_days": f.prior_same_area_period_days,
        "prior_same_area_dose_mgy": f.prior_same_area_dose_mgy,
    }
    modality = f.modality
    named = modality is Modality.INTERVENTIONAL or (modality is Modality.CT and f.ct_perfusion is True)
    if named and earlier > 0 and f.deterministic_effects_expected is True:
        facts["modality"] = modality
        facts["deterministic_effects_expected"] = True
        return Finding(CUMULATIVE_DOSE_EXCEPTION, MET, facts)
    return Finding(CUMULATIVE_DOSE, MET, facts)
