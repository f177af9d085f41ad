"""Readings of the guidance that were choices, and the facts they need, one row each citing its line.

Ids read ``<reading>-<case>-L<line>``; lines are those of cqc-irmer-notification-guidance-2023.txt.
A row's expectation is ``(status, codes)`` unless the test says otherwise. The readings are
written down in docs/classifier.md ("Readings that were choices").
"""

from __future__ import annotations

from typing import Any

import pytest

from sievert_classifier.domain import classify
from sievert_shared.decision import Authority, ClassificationDecision, DecisionStatus, NeedsAffect, OtherBody
from sievert_shared.facts import IncidentFacts
from tests.unit.classifier.classifier_cases import (
    BEFORE_2023,
    accidental,
    ct,
    facts,
    nm_therapy,
    nuclear_medicine,
    radiotherapy,
    verification,
)

NOTIFIABLE = DecisionStatus.NOTIFIABLE
NOT_NOTIFIABLE = DecisionStatus.NOT_NOTIFIABLE
UNDECIDED = DecisionStatus.UNDECIDED
NOT = (NOT_NOTIFIABLE, ())


def notified(*codes: str) -> tuple[DecisionStatus, tuple[str, ...]]:
    return NOTIFIABLE, codes


def outcome(decision: ClassificationDecision) -> tuple[DecisionStatus, tuple[str, ...]]:
    return decision.status, decision.codes


def reason(decision: ClassificationDecision, code: str) -> Any:
    (found,) = [r for r in decision.reasons if r.code == code]
    return found


# --- 4.2c: whether an equipment fault is thematic is asked, never assumed ----------------------


def course_fault(**changes: Any) -> IncidentFacts:
    """Line 324: 5 fraction SABR, 3 additional images on different days due to an MLC fault."""
    return verification(
        **{
            "verification_images_in_fraction": 1,
            "verification_images_intended": 5,
            "verification_images_additional": 3,
            "verification_imaging_cause": "equipment_failure",
            "equipment_fault": True,
            **changes,
        }
    )


THEMATIC = [
    pytest.param(
        course_fault(equipment_fault_thematic=True),
        notified("E4.2c"),
        id="thematic-one-patient-recurring-fault-L318-L324",
    ),
    pytest.param(
        course_fault(equipment_fault_thematic=None),
        (UNDECIDED, ()),
        id="thematic-unknown-is-asked-L318",
    ),
    pytest.param(
        course_fault(equipment_fault_thematic=False),
        NOT,
        id="thematic-one-off-fault-one-patient-L316",
    ),
    pytest.param(
        course_fault(
            equipment_fault_thematic=False, verification_images_additional=1, individuals_affected=3
        ),
        notified("ME4.2c"),
        id="thematic-same-fault-three-patients-L324",
    ),
    pytest.param(
        course_fault(equipment_fault_thematic=True, verification_images_additional=2),
        NOT,
        id="thematic-below-50-percent-L174",
    ),
    pytest.param(
        course_fault(verification_imaging_cause="thematic_equipment_failure"),
        notified("E4.2c"),
        id="thematic-cause-needs-no-question-L316",
    ),
    # Line 308: before April 2023 any "equipment error" counted, thematic or not.
    pytest.param(
        course_fault(
            discovered_on=BEFORE_2023, equipment_fault_thematic=None, verification_images_additional=1
        ),
        notified("E4.2c"),
        id="thematic-not-asked-in-2020-L308",
    ),
]


@pytest.mark.parametrize(("incident", "expected"), THEMATIC)
def test_thematic_equipment_fault(incident: IncidentFacts, expected: Any) -> None:
    decision = classify(incident)
    assert outcome(decision) == expected, decision.reasons
    if decision.status is UNDECIDED:
        assert decision.needs_facts_for_notification == ("equipment_fault_thematic",)


# --- Radiotherapy doses as radiotherapy records them (Gy, fractions, course) ----------------


def wrong_patient_rt(**changes: Any) -> IncidentFacts:
    """Radiotherapy given to the wrong patient (accidental, line 55) in England, no effective dose."""
    return accidental(modality="external_beam_radiotherapy", total_effective_dose_msv=None, **changes)


RADIOTHERAPY_GY = [
    # Line 150, 155, 246: a therapeutic delivery is read as above 3 mSv without estimating one.
    pytest.param(
        wrong_patient_rt(rt_fractions_delivered=1), notified("1"), id="radiotherapy_gy-one-fraction-L155"
    ),
    pytest.param(
        wrong_patient_rt(rt_delivered_dose_gy=2.0), notified("1"), id="radiotherapy_gy-target-gy-L155"
    ),
    pytest.param(
        wrong_patient_rt(rt_whole_course_delivered=True),
        notified("1"),
        id="radiotherapy_gy-whole-course-L155",
    ),
    pytest.param(
        wrong_patient_rt(rt_delivered_dose_gy=0.0, rt_fractions_delivered=0),
        NOT,
        id="radiotherapy_gy-nothing-delivered-L150",
    ),
    pytest.param(wrong_patient_rt(), (UNDECIDED, ()), id="radiotherapy_gy-unknown-is-asked-L246"),
    pytest.param(
        accidental(
            modality="brachytherapy",
            total_effective_dose_msv=None,
            patient_age_years=8,
            rt_fractions_delivered=1,
        ),
        notified("1"),
        id="radiotherapy_gy-brachytherapy-child-L150",
    ),
    pytest.param(
        accidental(
            modality="nuclear_medicine_therapy",
            total_effective_dose_msv=None,
            nm_delivered_activity_mbq=5500.0,
            outside_arsac_licence=False,
        ),
        notified("1"),
        id="radiotherapy_gy-nm-therapy-mbq-wrong-patient-L155",
    ),
    # Codes 8.1 and 8.2 from the doses in Gy when no ratio is recorded, exactly at the boundary.
    pytest.param(
        radiotherapy(rt_course_dose_ratio=None, rt_prescribed_dose_gy=60.0, rt_delivered_dose_gy=66.0),
        notified("8.1"),
        id="radiotherapy_gy-course-1.1x-L182",
    ),
    pytest.param(
        radiotherapy(rt_course_dose_ratio=None, rt_prescribed_dose_gy=60.0, rt_delivered_dose_gy=65.99),
        NOT,
        id="radiotherapy_gy-course-below-1.1x-L182",
    ),
    pytest.param(
        radiotherapy(
            rt_max_fraction_dose_ratio=None,
            rt_prescribed_fraction_dose_gy=2.0,
            rt_max_fraction_delivered_dose_gy=2.4,
        ),
        notified("8.1"),
        id="radiotherapy_gy-fraction-1.2x-L182",
    ),
    pytest.param(
        radiotherapy(
            rt_max_fraction_dose_ratio=None,
            rt_prescribed_fraction_dose_gy=2.0,
            rt_max_fraction_delivered_dose_gy=2.39,
        ),
        NOT,
        id="radiotherapy_gy-fraction-below-1.2x-L182",
    ),
    pytest.param(
        radiotherapy(rt_course_dose_ratio=None, rt_prescribed_dose_gy=60.0, rt_delivered_dose_gy=54.0),
        notified("8.2"),
        id="radiotherapy_gy-course-0.9x-L183",
    ),
    pytest.param(
        radiotherapy(rt_course_dose_ratio=None, rt_prescribed_dose_gy=60.0, rt_delivered_dose_gy=54.01),
        NOT,
        id="radiotherapy_gy-course-above-0.9x-L183",
    ),
    # A recorded ratio is used as recorded; the Gy only fill its absence.
    pytest.param(
        radiotherapy(rt_course_dose_ratio=1.0, rt_prescribed_dose_gy=60.0, rt_delivered_dose_gy=66.0),
        NOT,
        id="radiotherapy_gy-recorded-ratio-wins-L182",
    ),
    # Line 347-349 with 188: a wrong side or site is a total miss of the intended target.
    pytest.param(
        radiotherapy(anatomy_error="wrong_site", geographical_miss=None, rt_course_dose_ratio=None),
        notified("9.1"),
        id="radiotherapy_gy-wrong-site-is-total-miss-L188-L349",
    ),
    pytest.param(
        accidental(
            modality="external_beam_radiotherapy", anatomy_error="wrong_side", total_effective_dose_msv=None
        ),
        (UNDECIDED, ("9.1",)),
        id="radiotherapy_gy-wrong-side-judged-unintended-L349",
    ),
]


@pytest.mark.parametrize(("incident", "expected"), RADIOTHERAPY_GY)
def test_radiotherapy_gy(incident: IncidentFacts, expected: Any) -> None:
    decision = classify(incident)
    status, codes = expected
    if status is UNDECIDED and codes:
        # Notifiable on 9.1; the dose ratios are still asked because they could add 8.1.
        assert decision.status is NOTIFIABLE and decision.codes == codes
        assert decision.needs_facts_for_notification
    else:
        assert outcome(decision) == expected, decision.reasons
    for item in decision.reasons:
        assert "effective_dose" not in "".join(k for k in item.facts if k != "total_effective_dose_msv")


def test_radiotherapy_gy_wrong_patient_asks_for_the_dose_as_radiotherapy_records_it() -> None:
    decision = classify(wrong_patient_rt())
    assert decision.needs_facts_for_notification == ("rt_delivered_dose_gy",)
    assert "total_effective_dose_msv" not in decision.needs_facts


def test_radiotherapy_gy_derived_ratio_is_shown_not_an_effective_dose() -> None:
    decision = classify(
        radiotherapy(rt_course_dose_ratio=None, rt_prescribed_dose_gy=60.0, rt_delivered_dose_gy=66.0)
    )
    facts = reason(decision, "8.1").facts
    assert facts["course_ratio_from_gy"] == 1.1
    assert (facts["rt_prescribed_dose_gy"], facts["rt_delivered_dose_gy"]) == (60.0, 66.0)


# --- Wrong side or site in imaging ------------------------------------------------------------

ANATOMY = [
    # Line 349: apply the multiplication values to the total, wrong exposure plus the repeat (line 153).
    pytest.param(ct(1.0, 2.0, anatomy_error="wrong_side"), NOT, id="laterality-repeat-2x-not-2.2-L349"),
    pytest.param(ct(1.0, 10.0, anatomy_error="wrong_side"), notified("2.2"), id="laterality-10x-is-2.2-L349"),
    # Recorded as accidental, judged as unintended: 2.1 (3 mSv adult), not code 1.
    pytest.param(
        accidental(anatomy_error="wrong_site", intended_effective_dose_msv=0.2, total_effective_dose_msv=3.0),
        notified("2.1"),
        id="laterality-wrong-site-judged-unintended-2.1-L59-L349",
    ),
    pytest.param(
        accidental(
            anatomy_error="wrong_side", intended_effective_dose_msv=0.02, total_effective_dose_msv=0.04
        ),
        NOT,
        id="laterality-small-dose-not-code-1-L349",
    ),
]


@pytest.mark.parametrize(("incident", "expected"), ANATOMY)
def test_wrong_side_or_site_is_unintended(incident: IncidentFacts, expected: Any) -> None:
    decision = classify(incident)
    assert outcome(decision) == expected, decision.reasons
    assert {347, 349} <= set(reason(decision, "anatomy").citation.lines)


# --- ARSAC: the licence matters only when something was administered --------------------------

ARSAC = [
    pytest.param(
        nuclear_medicine(exposure_kind="near_miss", outside_arsac_licence=None),
        (NOT_NOTIFIABLE, (), ()),
        id="arsac-near-miss-not-asked-L94",
    ),
    pytest.param(
        nuclear_medicine(exposure_kind="near_miss", outside_arsac_licence=True),
        (NOT_NOTIFIABLE, (), ()),
        id="arsac-near-miss-administered-nothing-L94",
    ),
    pytest.param(
        nuclear_medicine(outside_arsac_licence=True, nm_delivered_activity_mbq=0.0),
        (NOT_NOTIFIABLE, (), ()),
        id="arsac-zero-mbq-administered-nothing-L94",
    ),
    pytest.param(
        nuclear_medicine(outside_arsac_licence=None),
        (NOT_NOTIFIABLE, (), ("outside_arsac_licence",)),
        id="arsac-unknown-is-routing-only-L98",
    ),
    pytest.param(
        nuclear_medicine(outside_arsac_licence=True),
        (NOT_NOTIFIABLE, (OtherBody.ARSAC,), ()),
        id="arsac-administered-outside-licence-L94-L98",
    ),
]


@pytest.mark.parametrize(("incident", "expected"), ARSAC)
def test_arsac(incident: IncidentFacts, expected: Any) -> None:
    decision = classify(incident)
    assert (decision.status, decision.other_bodies, decision.needs_facts_for_routing) == expected
    assert decision.needs_facts_for_notification == ()


# --- Licensing breaches: the enforcing authority's own form ------------------------------------

LICENSING_BREACH = [
    pytest.param(
        nuclear_medicine(outside_arsac_licence=True), Authority.CQC, id="licensing_breach-england-L45-L112"
    ),
    pytest.param(
        nuclear_medicine(outside_arsac_licence=True, nation="wales"),
        Authority.HIW,
        id="licensing_breach-wales-L45-L112",
    ),
    pytest.param(
        nm_therapy("sirt", 1000.0, 1000.0, outside_arsac_licence=True, nation="scotland"),
        Authority.HIS,
        id="licensing_breach-scotland-sirt-L45-L112",
    ),
    pytest.param(nuclear_medicine(), None, id="licensing_breach-licensed-L94"),
    pytest.param(
        nuclear_medicine(exposure_kind="near_miss", outside_arsac_licence=True),
        None,
        id="licensing_breach-near-miss-L94",
    ),
]


@pytest.mark.parametrize(("incident", "authority"), LICENSING_BREACH)
def test_licensing_breach(incident: IncidentFacts, authority: Authority | None) -> None:
    decision = classify(incident)
    assert decision.licensing_breach is (authority is not None)
    breach = [r for r in decision.reasons if r.code == "licensing-breach"]
    if authority is None:
        assert not breach
        return
    assert breach[0].facts["authority"] == authority
    assert {45, 98, 112} <= set(breach[0].citation.lines)
    # A separate route: not a Regulation 8(4) notification in itself (line 98).
    assert not decision.notifiable and decision.authority is authority


# --- Equipment context: the device named, code E and the device regulator ----------------------

DEVICE = {
    "equipment_fault": True,
    "equipment_type": "hand_held",
    "equipment_manufacturer": "Acme",
    "equipment_model": "HX-1",
}

EQUIPMENT_CONTEXT = [
    pytest.param(
        ct(1.0, 12.0, **DEVICE), ("E2.2",), (OtherBody.MHRA,), id="equipment_context-england-L210-L381"
    ),
    pytest.param(
        ct(1.0, 12.0, nation="scotland", **DEVICE),
        ("E2.2",),
        (OtherBody.HFS,),
        id="equipment_context-scotland-L385",
    ),
    pytest.param(
        ct(1.0, 12.0, nation="northern_ireland", **DEVICE),
        ("E2.2",),
        (OtherBody.NIAIC,),
        id="equipment_context-northern-ireland-L389",
    ),
    # Line 391: the device regulator hears of it even when it is not a SAUE.
    pytest.param(ct(0.02, 0.04, **DEVICE), (), (OtherBody.MHRA,), id="equipment_context-not-saue-L391"),
    pytest.param(
        ct(1.0, 12.0, equipment_type="hand_held", equipment_manufacturer="Acme"),
        ("2.2",),
        (),
        id="equipment_context-no-fault-no-route-L285",
    ),
]


@pytest.mark.parametrize(("incident", "codes", "bodies"), EQUIPMENT_CONTEXT)
def test_equipment_context(
    incident: IncidentFacts, codes: tuple[str, ...], bodies: tuple[OtherBody, ...]
) -> None:
    decision = classify(incident)
    assert (decision.codes, decision.other_bodies) == (codes, bodies)
    if bodies:
        named = reason(decision, "device").facts
        assert (named["equipment_type"], named["equipment_manufacturer"], named["equipment_model"]) == (
            "hand_held",
            "Acme",
            "HX-1",
        )
        assert reason(decision, "E").facts["equipment_model"] == "HX-1"


MEDICINE = [
    # Line 377: a mislabelled vial from the supplier is a medicine-related incident.
    pytest.param(
        nuclear_medicine(medicine_defect=True), (OtherBody.MHRA,), id="medicine-mislabelled-vial-england-L377"
    ),
    pytest.param(
        nuclear_medicine(medicine_defect=True, nation="scotland"),
        (OtherBody.HFS,),
        id="medicine-scotland-L385",
    ),
    pytest.param(
        nuclear_medicine(medicine_defect=True, nation="northern_ireland"),
        (OtherBody.NIAIC,),
        id="medicine-northern-ireland-L389",
    ),
    pytest.param(nuclear_medicine(medicine_defect=None), (), id="medicine-not-recorded-not-asked-L377"),
]


@pytest.mark.parametrize(("incident", "bodies"), MEDICINE)
def test_medicine_defect(incident: IncidentFacts, bodies: tuple[OtherBody, ...]) -> None:
    decision = classify(incident)
    assert decision.other_bodies == bodies
    assert decision.status is NOT_NOTIFIABLE and decision.needs_facts == ()


# --- Routing facts never hold the notification open -----------------------------------------

ROUTING_FACTS = [
    pytest.param(
        ct(0.02, 0.04, equipment_fault=None),
        (NOT_NOTIFIABLE, (), ("equipment_fault",)),
        id="routing_facts-far-below-thresholds-equipment-unknown-L285",
    ),
    pytest.param(
        nuclear_medicine(equipment_fault=None, outside_arsac_licence=None),
        (NOT_NOTIFIABLE, (), ("equipment_fault", "outside_arsac_licence")),
        id="routing_facts-nuclear-medicine-licence-and-equipment-unknown-L98",
    ),
    pytest.param(
        facts(exposure_kind="occupational"),
        (NOT_NOTIFIABLE, (), ("worker_effective_dose_msv",)),
        id="routing_facts-worker-dose-for-hse-L395",
    ),
    pytest.param(
        ct(1.0, 12.0, equipment_fault=None),
        (NOTIFIABLE, (), ("equipment_fault",)),
        id="routing_facts-notifiable-label-open-L210",
    ),
    # A voluntary offer's code is a label: naming its band does not decide a notification.
    pytest.param(
        facts(exposure_kind="near_miss", voluntary=True, total_effective_dose_msv=None),
        (NOT_NOTIFIABLE, (), ("intended_effective_dose_msv",)),
        id="routing_facts-voluntary-label-band-L268",
    ),
    # These could make it notifiable, so the decision stays open.
    pytest.param(
        facts(total_effective_dose_msv=5.0),
        (UNDECIDED, ("intended_effective_dose_msv",), ()),
        id="routing_facts-band-unknown-is-undecided-L162",
    ),
    pytest.param(
        ct(0.02, 0.04, clinically_significant=None),
        (UNDECIDED, ("clinically_significant",), ()),
        id="routing_facts-csaue-unknown-is-undecided-L78",
    ),
    pytest.param(
        ct(0.02, 0.04, individuals_affected=None),
        (UNDECIDED, ("individuals_affected",), ()),
        id="routing_facts-individuals-unknown-is-undecided-L207",
    ),
]


@pytest.mark.parametrize(("incident", "expected"), ROUTING_FACTS)
def test_routing_facts(incident: IncidentFacts, expected: Any) -> None:
    decision = classify(incident)
    assert (
        decision.status,
        decision.needs_facts_for_notification,
        decision.needs_facts_for_routing,
    ) == expected
    for item in decision.reasons:
        if item.needs_affect is NeedsAffect.ROUTING:
            assert set(item.needs) <= set(decision.needs_facts_for_routing)
        elif item.needs_affect is NeedsAffect.NOTIFICATION:
            assert set(item.needs) <= set(decision.needs_facts_for_notification)


def test_routing_facts_equipment_answer_is_routing_in_its_reason() -> None:
    decision = classify(ct(0.02, 0.04, equipment_fault=None))
    assert reason(decision, "E").needs_affect is NeedsAffect.ROUTING
    assert decision.needs_facts == ("equipment_fault",)  # the union, for older readers


def test_wrong_side_recorded_as_accidental_takes_its_category_as_unintended() -> None:
    # Line 349 with line 287: M attaches to the category of an unintended exposure, here band 2.1.
    decision = classify(
        accidental(
            anatomy_error="wrong_side",
            individuals_affected=2,
            intended_effective_dose_msv=0.02,
            total_effective_dose_msv=0.04,
        )
    )
    assert (decision.status, decision.codes) == (NOTIFIABLE, ("M2.1",))
