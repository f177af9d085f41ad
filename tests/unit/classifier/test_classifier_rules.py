"""Every criterion on each side of every boundary, one row each, citing the guidance line.

Ids read ``<code>-<case>-L<line>``; lines are those of
cqc-irmer-notification-guidance-2023.txt. A row's expectation is
``(notifiable, codes)``, with the most relevant code first and its prefixes.
"""

from __future__ import annotations

import pytest

from sievert_classifier.domain import classify
from sievert_shared.decision import Authority, OtherBody
from sievert_shared.facts import IncidentFacts
from tests.unit.classifier.classifier_cases import (
    BEFORE_2023,
    accidental,
    ct,
    facts,
    interventional,
    nm_therapy,
    nuclear_medicine,
    planning,
    radiotherapy,
    verification,
)

NOT = (False, ())


def notified(*codes: str) -> tuple[bool, tuple[str, ...]]:
    return True, codes


CODE_1 = [
    # Line 150: England, 3 mSv or above (adult), 1 mSv or above (child).
    pytest.param(accidental(total_effective_dose_msv=2.99), NOT, id="code-1-england-adult-below-3-L150"),
    pytest.param(
        accidental(total_effective_dose_msv=3.0), notified("1"), id="code-1-england-adult-at-3-L150"
    ),
    pytest.param(
        accidental(total_effective_dose_msv=0.99, patient_age_years=17),
        NOT,
        id="code-1-england-child-below-1-L150",
    ),
    pytest.param(
        accidental(total_effective_dose_msv=1.0, patient_age_years=17),
        notified("1"),
        id="code-1-england-child-at-1-L150",
    ),
    # Line 150: a child has not reached the 18th birthday; at 18 the adult threshold applies.
    pytest.param(
        accidental(total_effective_dose_msv=2.0, patient_age_years=18),
        NOT,
        id="code-1-england-18-is-adult-L150",
    ),
    pytest.param(
        accidental(total_effective_dose_msv=2.0, patient_age_years=0),
        notified("1"),
        id="code-1-england-infant-L150",
    ),
    # Line 151: Northern Ireland, Scotland and Wales: all, regardless of dose.
    pytest.param(
        accidental(nation="wales", total_effective_dose_msv=0.001),
        notified("1"),
        id="code-1-wales-any-dose-L151",
    ),
    pytest.param(
        accidental(nation="scotland", total_effective_dose_msv=None, patient_age_years=None),
        notified("1"),
        id="code-1-scotland-dose-unknown-L151",
    ),
    pytest.param(
        accidental(nation="northern_ireland", total_effective_dose_msv=0.0),
        notified("1"),
        id="code-1-northern-ireland-zero-dose-L151",
    ),
]

CODE_2 = [
    # Line 162, code 2.1: intended < 0.3 mSv; 3 mSv (adult), 1 mSv (child).
    pytest.param(ct(0.29, 2.99), NOT, id="code-2.1-adult-below-3-L162"),
    pytest.param(ct(0.29, 3.0), notified("2.1"), id="code-2.1-adult-at-3-L162"),
    pytest.param(ct(0.29, 0.99, patient_age_years=10), NOT, id="code-2.1-child-below-1-L162"),
    pytest.param(ct(0.29, 1.0, patient_age_years=10), notified("2.1"), id="code-2.1-child-at-1-L162"),
    pytest.param(ct(0.0, 1.5, patient_age_years=17), notified("2.1"), id="code-2.1-england-17-is-child-L150"),
    # Line 150: in Scotland a child has not reached the 16th birthday, and 2.1 uses it.
    pytest.param(
        ct(0.29, 1.5, nation="scotland", patient_age_years=16), NOT, id="code-2.1-scotland-16-is-adult-L150"
    ),
    pytest.param(
        ct(0.29, 1.5, nation="scotland", patient_age_years=15),
        notified("2.1"),
        id="code-2.1-scotland-15-is-child-L150",
    ),
    pytest.param(
        ct(0.29, 1.5, nation="wales", patient_age_years=17),
        notified("2.1"),
        id="code-2.1-wales-17-is-child-L150",
    ),
    # Line 163, code 2.2: 0.3 <= intended < 2.5; 10 or more times intended (line 153).
    pytest.param(ct(0.3, 2.99), NOT, id="code-2.2-intended-at-0.3-below-10x-L163"),
    pytest.param(ct(0.3, 3.0), notified("2.2"), id="code-2.2-intended-at-0.3-at-10x-L163"),
    # At exactly 0.3 mSv the band is 2.2, so a child needs 10x too, not 1 mSv.
    pytest.param(ct(0.3, 2.0, patient_age_years=5), NOT, id="code-2.2-child-at-0.3-needs-10x-L163"),
    pytest.param(ct(1.0, 9.99), NOT, id="code-2.2-below-10x-L163"),
    pytest.param(ct(1.0, 10.0), notified("2.2"), id="code-2.2-at-10x-L163"),
    # 10 x 0.33 is 3.3000000000000003 in binary floating point; the factor is exact here.
    pytest.param(ct(0.33, 3.3), notified("2.2"), id="code-2.2-at-10x-exact-decimal-L153"),
    pytest.param(ct(2.49, 24.89), NOT, id="code-2.2-top-of-band-below-10x-L163"),
    pytest.param(ct(2.49, 24.9), notified("2.2"), id="code-2.2-top-of-band-at-10x-L163"),
    # Line 164, code 2.3: 2.5 <= intended <= 10; 25 mSv or above.
    pytest.param(ct(2.5, 24.99), NOT, id="code-2.3-intended-at-2.5-below-25-L164"),
    pytest.param(ct(2.5, 25.0), notified("2.3"), id="code-2.3-intended-at-2.5-at-25-L164"),
    pytest.param(ct(10.0, 24.99), NOT, id="code-2.3-intended-at-10-below-25-L164"),
    pytest.param(ct(10.0, 25.0), notified("2.3"), id="code-2.3-intended-at-10-at-25-L165"),
    # Line 165, code 2.4: intended > 10; 2.5 or more times intended.
    pytest.param(ct(12.0, 29.99), NOT, id="code-2.4-below-2.5x-L165"),
    pytest.param(ct(12.0, 30.0), notified("2.4"), id="code-2.4-at-2.5x-L165"),
    pytest.param(ct(10.06, 25.15), notified("2.4"), id="code-2.4-at-2.5x-exact-decimal-L153"),
    # Line 345: diagnostic under-exposures are not notified.
    pytest.param(ct(5.0, 0.5), NOT, id="code-2.3-under-exposure-not-notified-L345"),
    # Line 159: all modalities, including nuclear medicine and radiotherapy imaging.
    pytest.param(
        facts(modality="dental", intended_effective_dose_msv=0.005, total_effective_dose_msv=3.0),
        notified("2.1"),
        id="code-2.1-dental-L159",
    ),
    pytest.param(
        nuclear_medicine(intended_effective_dose_msv=1.0, total_effective_dose_msv=10.0),
        notified("2.2"),
        id="code-2.2-nuclear-medicine-L159",
    ),
    pytest.param(
        verification(intended_effective_dose_msv=0.5, total_effective_dose_msv=5.0),
        notified("2.2"),
        id="code-2.2-radiotherapy-imaging-L159-L246",
    ),
    # Without the intended dose no band can be met below 1 mSv, nor below 3 mSv for an adult.
    pytest.param(
        facts(total_effective_dose_msv=0.99, patient_age_years=None), NOT, id="code-2-no-band-below-1-L162"
    ),
    pytest.param(facts(total_effective_dose_msv=2.99), NOT, id="code-2-adult-no-band-below-3-L163"),
]

CODE_3 = [
    # Line 166, 295: procedural failure resulting in observable deterministic effects.
    pytest.param(
        interventional(deterministic_effect="other", procedural_failure=True),
        notified("3"),
        id="code-3-procedural-failure-with-effect-L295",
    ),
    # Line 295: transient erythema is excluded.
    pytest.param(
        interventional(deterministic_effect="transient_erythema", procedural_failure=True),
        NOT,
        id="code-3-transient-erythema-excluded-L295",
    ),
    pytest.param(
        interventional(deterministic_effect="none", procedural_failure=True), NOT, id="code-3-no-effect-L295"
    ),
    # Line 296: no procedural error, but an unintended or unpredicted effect.
    pytest.param(
        interventional(deterministic_effect="other", deterministic_effect_anticipated=False),
        notified("3"),
        id="code-3-unpredicted-effect-without-failure-L296",
    ),
    pytest.param(
        interventional(deterministic_effect="other", deterministic_effect_anticipated=True),
        NOT,
        id="code-3-anticipated-effect-without-failure-L296",
    ),
    # Line 159 "all modalities" with line 291-296 read as an addition: interventional exposures are
    # dose-banded as well as judged on deterministic effects (our reading, docs/classifier.md).
    pytest.param(
        interventional(
            deterministic_effect="none", intended_effective_dose_msv=5.0, total_effective_dose_msv=60.0
        ),
        notified("2.3"),
        id="interventional-dose-banded-2.3-L159-L291",
    ),
    pytest.param(
        interventional(
            deterministic_effect="none", intended_effective_dose_msv=5.0, total_effective_dose_msv=24.99
        ),
        NOT,
        id="interventional-below-2.3-L164-L291",
    ),
    pytest.param(
        interventional(
            deterministic_effect="other",
            procedural_failure=True,
            intended_effective_dose_msv=12.0,
            total_effective_dose_msv=30.0,
        ),
        notified("3", "2.4"),
        id="interventional-code-3-and-2.4-L165-L295",
    ),
    pytest.param(
        interventional(
            deterministic_effect="none",
            intended_effective_dose_msv=None,
            total_effective_dose_msv=0.9,
            patient_age_years=None,
        ),
        NOT,
        id="interventional-no-band-below-1-L162-L291",
    ),
]

CODE_4 = [
    # Line 167, code 4.1: 3 planning scans in total, including the intended one.
    pytest.param(planning(2), NOT, id="code-4.1-two-scans-L167"),
    pytest.param(planning(3), notified("4.1"), id="code-4.1-three-scans-L167"),
    # Line 170, code 4.2a: set-up error, 3 or more images in one fraction, including the intended.
    pytest.param(
        verification(
            verification_images_in_fraction=2,
            verification_imaging_cause="set_up_error",
            verification_images_intended=20,
            verification_images_additional=1,
        ),
        NOT,
        id="code-4.2a-two-images-L170",
    ),
    pytest.param(
        verification(
            verification_images_in_fraction=3,
            verification_imaging_cause="set_up_error",
            verification_images_intended=20,
            verification_images_additional=2,
        ),
        notified("4.2a"),
        id="code-4.2a-three-images-L170",
    ),
    # Line 322: an incorrect set-up "as a result of protocol failure" counts too.
    pytest.param(
        verification(
            verification_images_in_fraction=3,
            verification_imaging_cause="protocol_failure",
            verification_images_intended=20,
            verification_images_additional=2,
        ),
        notified("4.2a"),
        id="code-4.2a-protocol-failure-set-up-L322",
    ),
    pytest.param(
        verification(
            verification_images_in_fraction=3,
            verification_imaging_cause="other",
            verification_images_intended=20,
            verification_images_additional=2,
        ),
        NOT,
        id="code-4.2a-other-cause-L170",
    ),
    # Line 171, code 4.2b: additional images 50% of those intended over the course, protocol failure.
    pytest.param(
        verification(
            verification_images_intended=10,
            verification_images_additional=4,
            verification_images_in_fraction=1,
            verification_imaging_cause="protocol_failure",
        ),
        NOT,
        id="code-4.2b-40-percent-L171",
    ),
    pytest.param(
        verification(
            verification_images_intended=10,
            verification_images_additional=5,
            verification_images_in_fraction=1,
            verification_imaging_cause="protocol_failure",
        ),
        notified("4.2b"),
        id="code-4.2b-at-50-percent-L171",
    ),
    pytest.param(
        verification(
            verification_images_intended=10,
            verification_images_additional=9,
            verification_images_in_fraction=1,
            verification_imaging_cause="other",
        ),
        NOT,
        id="code-4.2b-other-cause-L171",
    ),
    # Line 174, code 4.2c: 50%, thematic hardware or software failure.
    pytest.param(
        verification(
            verification_images_intended=10,
            verification_images_additional=4,
            verification_images_in_fraction=1,
            verification_imaging_cause="thematic_equipment_failure",
        ),
        NOT,
        id="code-4.2c-thematic-40-percent-L174",
    ),
    pytest.param(
        verification(
            verification_images_intended=10,
            verification_images_additional=5,
            verification_images_in_fraction=1,
            verification_imaging_cause="thematic_equipment_failure",
        ),
        notified("4.2c"),
        id="code-4.2c-thematic-at-50-percent-L174",
    ),
    # Line 316: a one-off fault in one patient's course is not thematic.
    pytest.param(
        verification(
            verification_images_intended=10,
            verification_images_additional=9,
            verification_images_in_fraction=1,
            verification_imaging_cause="equipment_failure",
        ),
        NOT,
        id="code-4.2c-one-off-fault-not-thematic-L316",
    ),
    # Line 310, 315-316: short course (10 fractions or less) is no exception.
    pytest.param(
        verification(
            verification_images_intended=3,
            verification_images_additional=2,
            verification_images_in_fraction=1,
            verification_imaging_cause="protocol_failure",
        ),
        notified("4.2b"),
        id="code-4.2b-short-course-L318",
    ),
]

CODE_5_6_7 = [
    # Line 175, 330: 10 mGy or more, even when procedures were followed.
    pytest.param(
        ct(1.0, 1.0, patient_pregnant=True, foetal_dose_mgy=9.99), NOT, id="code-5-below-10-mgy-L175"
    ),
    pytest.param(
        ct(1.0, 1.0, patient_pregnant=True, foetal_dose_mgy=10.0), notified("5"), id="code-5-at-10-mgy-L175"
    ),
    pytest.param(
        accidental(total_effective_dose_msv=2.0, patient_pregnant=True, foetal_dose_mgy=15.0),
        notified("5"),
        id="code-5-accidental-pregnant-patient-L175",
    ),
    # Line 176: breastfed infant, nuclear medicine only, failure in procedure AND 1 mSv.
    pytest.param(
        nuclear_medicine(breastfed_infant_effective_dose_msv=0.99, procedural_failure=True),
        NOT,
        id="code-6-below-1-msv-L176",
    ),
    pytest.param(
        nuclear_medicine(breastfed_infant_effective_dose_msv=1.0, procedural_failure=True),
        notified("6"),
        id="code-6-at-1-msv-L176",
    ),
    pytest.param(
        nuclear_medicine(breastfed_infant_effective_dose_msv=5.0, procedural_failure=False),
        NOT,
        id="code-6-no-procedural-failure-L176",
    ),
    pytest.param(
        ct(1.0, 1.0, breastfed_infant_effective_dose_msv=5.0, procedural_failure=True),
        NOT,
        id="code-6-not-nuclear-medicine-L176",
    ),
    # Line 177: any incorrect radiopharmaceutical, regardless of dose.
    pytest.param(
        nuclear_medicine(incorrect_radiopharmaceutical=True), notified("7"), id="code-7-wrong-tracer-L177"
    ),
    pytest.param(nuclear_medicine(incorrect_radiopharmaceutical=False), NOT, id="code-7-right-tracer-L177"),
]

CODE_8_9 = [
    # Line 182, code 8.1: 1.1x the whole course or 1.2x any fraction, PTV or OAR.
    pytest.param(radiotherapy(rt_course_dose_ratio=1.09), NOT, id="code-8.1-course-below-1.1-L182"),
    pytest.param(radiotherapy(rt_course_dose_ratio=1.1), notified("8.1"), id="code-8.1-course-at-1.1-L182"),
    pytest.param(radiotherapy(rt_max_fraction_dose_ratio=1.19), NOT, id="code-8.1-fraction-below-1.2-L182"),
    pytest.param(
        radiotherapy(rt_max_fraction_dose_ratio=1.2), notified("8.1"), id="code-8.1-fraction-at-1.2-L182"
    ),
    pytest.param(
        radiotherapy(rt_course_dose_ratio=1.1, rt_dose_volume="organ_at_risk"),
        notified("8.1"),
        id="code-8.1-organ-at-risk-L182",
    ),
    pytest.param(
        facts(
            modality="brachytherapy",
            rt_course_dose_ratio=1.15,
            rt_max_fraction_dose_ratio=1.15,
            geographical_miss="none",
            rt_dose_volume="ptv",
        ),
        notified("8.1"),
        id="code-8.1-brachytherapy-L179",
    ),
    # Line 183, code 8.2: 0.9x or less over the course, to the PTV, excluding geographical misses.
    pytest.param(radiotherapy(rt_course_dose_ratio=0.91), NOT, id="code-8.2-above-0.9-L183"),
    pytest.param(radiotherapy(rt_course_dose_ratio=0.9), notified("8.2"), id="code-8.2-at-0.9-L183"),
    pytest.param(
        radiotherapy(rt_course_dose_ratio=0.8, rt_dose_volume="organ_at_risk"),
        NOT,
        id="code-8.2-organ-at-risk-under-dose-L183",
    ),
    pytest.param(
        radiotherapy(
            rt_course_dose_ratio=0.8, geographical_miss="partial", geographical_miss_margin_ratio=2.0
        ),
        NOT,
        id="code-8.2-excludes-geographical-miss-L183",
    ),
    # Line 188, code 9.1: all total misses, even for a single fraction.
    pytest.param(radiotherapy(geographical_miss="total"), notified("9.1"), id="code-9.1-total-miss-L188"),
    # Line 191, code 9.2: miss exceeding 2.5x the margin AND the 8.1/8.2 factors.
    pytest.param(
        radiotherapy(
            geographical_miss="partial", geographical_miss_margin_ratio=2.5, rt_course_dose_ratio=1.2
        ),
        notified("8.1"),
        id="code-9.2-at-2.5x-margin-does-not-exceed-L191",
    ),
    pytest.param(
        radiotherapy(
            geographical_miss="partial", geographical_miss_margin_ratio=2.51, rt_course_dose_ratio=1.2
        ),
        notified("9.2", "8.1"),
        id="code-9.2-over-2.5x-margin-over-dose-L191",
    ),
    pytest.param(
        radiotherapy(
            geographical_miss="partial", geographical_miss_margin_ratio=3.0, rt_course_dose_ratio=0.85
        ),
        notified("9.2"),
        id="code-9.2-over-margin-ptv-under-dose-L191",
    ),
    pytest.param(
        radiotherapy(geographical_miss="partial", geographical_miss_margin_ratio=3.0),
        NOT,
        id="code-9.2-over-margin-dose-factors-not-met-L191",
    ),
]

CODE_10 = [
    # Line 196, code 10.1: SIRT outside +/- 20%; exactly 20% off is inside.
    pytest.param(nm_therapy("sirt", 1000.0, 1200.0), NOT, id="code-10.1-at-plus-20-percent-L196"),
    pytest.param(
        nm_therapy("sirt", 1000.0, 1201.0), notified("10.1"), id="code-10.1-over-plus-20-percent-L196"
    ),
    pytest.param(nm_therapy("sirt", 1000.0, 800.0), NOT, id="code-10.1-at-minus-20-percent-L196"),
    pytest.param(
        nm_therapy("sirt", 1000.0, 799.0), notified("10.1"), id="code-10.1-under-minus-20-percent-L196"
    ),
    # Line 197, code 10.2: other NM therapies outside +/- 10%.
    pytest.param(
        nm_therapy("nuclear_medicine_therapy", 3700.0, 4070.0), NOT, id="code-10.2-at-plus-10-percent-L197"
    ),
    pytest.param(
        nm_therapy("nuclear_medicine_therapy", 3700.0, 4071.0),
        notified("10.2"),
        id="code-10.2-over-plus-10-percent-L197",
    ),
    pytest.param(
        nm_therapy("nuclear_medicine_therapy", 3700.0, 3330.0), NOT, id="code-10.2-at-minus-10-percent-L197"
    ),
    pytest.param(
        nm_therapy("nuclear_medicine_therapy", 3700.0, 3329.0),
        notified("10.2"),
        id="code-10.2-under-minus-10-percent-L197",
    ),
]

COMPLEMENTARY = [
    # Line 203, 207: M1, more than one individual, regardless of dose.
    pytest.param(
        accidental(total_effective_dose_msv=0.5, individuals_affected=2),
        notified("M1"),
        id="code-M1-two-individuals-L203",
    ),
    pytest.param(
        accidental(total_effective_dose_msv=0.5, individuals_affected=1), NOT, id="code-M-one-individual-L207"
    ),
    # Line 204: M2.1, the most relevant code named even though its own threshold is not met.
    pytest.param(
        ct(0.02, 0.04, individuals_affected=12), notified("M2.1"), id="code-M2.1-twelve-individuals-L204"
    ),
    pytest.param(
        ct(1.0, 12.0, individuals_affected=3), notified("M2.2"), id="code-M2.2-met-and-several-L207"
    ),
    # Line 210, 285: E, an equipment failure the direct cause, on a notifiable code only.
    pytest.param(ct(1.0, 12.0, equipment_fault=True), notified("E2.2"), id="code-E2.2-equipment-fault-L210"),
    pytest.param(ct(1.0, 2.0, equipment_fault=True), NOT, id="code-E-alone-not-notifiable-L285"),
    # Line 78, 212: C, clinically significant, a statutory notification whatever the dose.
    pytest.param(ct(0.02, 0.04, clinically_significant=True), notified("C2.1"), id="code-C2.1-csaue-L78"),
    # Line 287: more than one complementary code, in the table's order M, E, V, C (line 207-212).
    pytest.param(
        ct(5.0, 30.0, individuals_affected=4, equipment_fault=True, clinically_significant=True),
        notified("MEC2.3"),
        id="code-MEC2.3-prefix-order-L287",
    ),
    # Line 211, 268: V, only when the statutory criteria are not met.
    pytest.param(ct(1.0, 12.0, voluntary=True), notified("2.2"), id="code-V-not-on-statutory-L268"),
]

ALL_ROWS = CODE_1 + CODE_2 + CODE_3 + CODE_4 + CODE_5_6_7 + CODE_8_9 + CODE_10 + COMPLEMENTARY


@pytest.mark.parametrize(("incident", "expected"), ALL_ROWS)
def test_criterion(incident: IncidentFacts, expected: tuple[bool, tuple[str, ...]]) -> None:
    decision = classify(incident)
    assert (decision.notifiable, decision.codes) == expected, decision.reasons


RULESET_2020 = [
    # Line 308: before April 2023, 20% additional images, protocol failure or any equipment error.
    pytest.param(
        verification(
            discovered_on=BEFORE_2023,
            verification_images_intended=10,
            verification_images_additional=1,
            verification_images_in_fraction=1,
            verification_imaging_cause="protocol_failure",
        ),
        NOT,
        id="2020-code-4.2b-10-percent-L308",
    ),
    pytest.param(
        verification(
            discovered_on=BEFORE_2023,
            verification_images_intended=10,
            verification_images_additional=2,
            verification_images_in_fraction=1,
            verification_imaging_cause="protocol_failure",
        ),
        notified("4.2b"),
        id="2020-code-4.2b-at-20-percent-L308",
    ),
    pytest.param(
        verification(
            discovered_on=BEFORE_2023,
            verification_images_intended=10,
            verification_images_additional=2,
            verification_images_in_fraction=1,
            verification_imaging_cause="equipment_failure",
        ),
        notified("4.2c"),
        id="2020-code-4.2c-one-off-equipment-error-L308",
    ),
    # Line 328: before April 2023, a procedural failure and 1 mGy.
    pytest.param(
        ct(1.0, 1.0, discovered_on=BEFORE_2023, foetal_dose_mgy=0.99, procedural_failure=True),
        NOT,
        id="2020-code-5-below-1-mgy-L328",
    ),
    pytest.param(
        ct(1.0, 1.0, discovered_on=BEFORE_2023, foetal_dose_mgy=1.0, procedural_failure=True),
        notified("5"),
        id="2020-code-5-at-1-mgy-with-failure-L328",
    ),
    pytest.param(
        ct(1.0, 1.0, discovered_on=BEFORE_2023, foetal_dose_mgy=50.0, procedural_failure=False),
        NOT,
        id="2020-code-5-no-failure-L328",
    ),
    # Line 10, 334: no code 7 before April 2023; judged on dose.
    pytest.param(
        nuclear_medicine(discovered_on=BEFORE_2023, incorrect_radiopharmaceutical=True),
        NOT,
        id="2020-no-code-7-low-dose-L334",
    ),
    pytest.param(
        nuclear_medicine(
            discovered_on=BEFORE_2023, incorrect_radiopharmaceutical=True, total_effective_dose_msv=25.0
        ),
        notified("2.3"),
        id="2020-no-code-7-judged-on-dose-L164",
    ),
    # Unchanged criteria stay the same.
    pytest.param(
        ct(1.0, 10.0, discovered_on=BEFORE_2023), notified("2.2"), id="2020-code-2.2-unchanged-L163"
    ),
]


@pytest.mark.parametrize(("incident", "expected"), RULESET_2020)
def test_criterion_under_the_august_2020_ruleset(
    incident: IncidentFacts, expected: tuple[bool, tuple[str, ...]]
) -> None:
    decision = classify(incident)
    assert decision.ruleset == "irmer-2020-08"
    assert (decision.notifiable, decision.codes) == expected, decision.reasons


NEEDS = [
    # Missing facts are not guessed: the decision names them.
    pytest.param(
        accidental(total_effective_dose_msv=None),
        ("total_effective_dose_msv",),
        id="needs-code-1-england-dose-L150",
    ),
    pytest.param(
        accidental(total_effective_dose_msv=2.0, patient_age_years=None),
        ("patient_age_years",),
        id="needs-code-1-england-age-between-1-and-3-L150",
    ),
    pytest.param(
        facts(total_effective_dose_msv=5.0),
        ("intended_effective_dose_msv",),
        id="needs-code-2-intended-picks-band-L162",
    ),
    pytest.param(ct(0.1, 2.0, patient_age_years=None), ("patient_age_years",), id="needs-code-2.1-age-L162"),
    pytest.param(
        facts(intended_effective_dose_msv=1.0), ("total_effective_dose_msv",), id="needs-code-2.2-total-L163"
    ),
    pytest.param(
        interventional(deterministic_effect=None), ("deterministic_effect",), id="needs-code-3-effect-L166"
    ),
    pytest.param(
        interventional(deterministic_effect="other", procedural_failure=None),
        ("deterministic_effect_anticipated", "procedural_failure"),
        id="needs-code-3-failure-or-foresight-L296",
    ),
    pytest.param(
        ct(1.0, 1.0, patient_pregnant=True), ("foetal_dose_mgy",), id="needs-code-5-foetal-dose-L175"
    ),
    pytest.param(
        ct(1.0, 1.0, discovered_on=BEFORE_2023, foetal_dose_mgy=2.0, procedural_failure=None),
        ("procedural_failure",),
        id="needs-2020-code-5-procedural-failure-L328",
    ),
    pytest.param(
        nuclear_medicine(incorrect_radiopharmaceutical=None),
        ("incorrect_radiopharmaceutical",),
        id="needs-code-7-L177",
    ),
    pytest.param(
        radiotherapy(rt_course_dose_ratio=None, rt_max_fraction_dose_ratio=None),
        ("rt_course_dose_ratio", "rt_max_fraction_dose_ratio"),
        id="needs-code-8-ratios-L182",
    ),
    pytest.param(
        radiotherapy(rt_course_dose_ratio=0.85, rt_dose_volume=None),
        ("rt_dose_volume",),
        id="needs-code-8.2-volume-L183",
    ),
    pytest.param(
        radiotherapy(rt_course_dose_ratio=0.85, geographical_miss=None),
        ("geographical_miss",),
        id="needs-code-8.2-miss-and-9.1-L183",
    ),
    pytest.param(
        radiotherapy(geographical_miss="partial", rt_course_dose_ratio=1.3),
        ("geographical_miss_margin_ratio",),
        id="needs-code-9.2-margin-L191",
    ),
    pytest.param(
        nm_therapy("sirt", 1000.0, 1000.0, nm_delivered_activity_mbq=None),
        ("nm_delivered_activity_mbq",),
        id="needs-code-10.1-delivered-L196",
    ),
    pytest.param(
        facts(
            intended_effective_dose_msv=1.0,
            total_effective_dose_msv=1.0,
            individuals_affected=None,
            equipment_fault=None,
            clinically_significant=None,
        ),
        ("individuals_affected", "equipment_fault", "clinically_significant"),
        id="needs-complementary-flags-L207-L212",
    ),
    pytest.param(
        facts(exposure_kind="occupational", individuals_affected=None),
        ("worker_effective_dose_msv",),
        id="needs-hse-worker-dose-L395",
    ),
    # M is met regardless of dose, but the code to attach it to needs the intended dose's band.
    pytest.param(
        facts(total_effective_dose_msv=5.0, individuals_affected=3),
        ("intended_effective_dose_msv",),
        id="needs-M-category-band-L287",
    ),
]


@pytest.mark.parametrize(("incident", "needs"), NEEDS)
def test_missing_facts_are_named_not_guessed(incident: IncidentFacts, needs: tuple[str, ...]) -> None:
    decision = classify(incident)
    assert decision.needs_facts == needs
    assert any(reason.outcome == "needs_facts" for reason in decision.reasons)


def test_m_with_an_unnamed_category_is_notifiable_without_a_code() -> None:
    # Line 207: notifiable regardless of dose; line 287: but a code 1-9 must go with it,
    # and that cannot be named until the intended dose picks the band.
    decision = classify(facts(total_effective_dose_msv=5.0, individuals_affected=3))
    assert decision.notifiable
    assert decision.codes == ()


AUTHORITIES = [
    # Line 351-373: one enforcing authority per nation.
    pytest.param("england", Authority.CQC, id="authority-england-cqc-L355"),
    pytest.param("wales", Authority.HIW, id="authority-wales-hiw-L359"),
    pytest.param("northern_ireland", Authority.RQIA, id="authority-northern-ireland-rqia-L365"),
    pytest.param("scotland", Authority.HIS, id="authority-scotland-his-L369"),
]


@pytest.mark.parametrize(("nation", "authority"), AUTHORITIES)
def test_enforcing_authority_by_nation(nation: str, authority: Authority) -> None:
    assert classify(ct(1.0, 12.0, nation=nation)).authority is authority


OTHER_BODIES = [
    # Line 395: HSE, IRR17 regulation 26; a dose at the limit does not exceed it.
    pytest.param(
        facts(exposure_kind="occupational", worker_effective_dose_msv=20.0), (), id="hse-worker-at-limit-L395"
    ),
    pytest.param(
        facts(exposure_kind="occupational", worker_effective_dose_msv=20.01),
        (OtherBody.HSE,),
        id="hse-worker-over-limit-L395",
    ),
    pytest.param(
        facts(exposure_kind="public", public_effective_dose_msv=1.0), (), id="hse-public-at-limit-L395"
    ),
    pytest.param(
        facts(exposure_kind="public", public_effective_dose_msv=1.01),
        (OtherBody.HSE,),
        id="hse-public-over-limit-L395",
    ),
    # Line 401: HSENI in Northern Ireland.
    pytest.param(
        facts(exposure_kind="occupational", nation="northern_ireland", worker_effective_dose_msv=25.0),
        (OtherBody.HSENI,),
        id="hseni-northern-ireland-L401",
    ),
    # Line 397: an over-exposure from a fault before clinical use (critical examination).
    pytest.param(
        facts(exposure_kind="occupational", worker_effective_dose_msv=30.0, equipment_fault=True),
        (OtherBody.HSE, OtherBody.MHRA),
        id="hse-and-mhra-critical-examination-L397",
    ),
    # Line 379-389: device incidents by nation, even when not a SAUE (line 391).
    pytest.param(ct(1.0, 2.0, equipment_fault=True), (OtherBody.MHRA,), id="mhra-england-not-saue-L381-L391"),
    pytest.param(ct(1.0, 2.0, equipment_fault=True, nation="wales"), (OtherBody.MHRA,), id="mhra-wales-L379"),
    pytest.param(
        ct(1.0, 2.0, equipment_fault=True, nation="scotland"), (OtherBody.HFS,), id="hfs-scotland-L385"
    ),
    pytest.param(
        ct(1.0, 2.0, equipment_fault=True, nation="northern_ireland"),
        (OtherBody.NIAIC,),
        id="niaic-northern-ireland-L389",
    ),
    # Line 98: ARSAC for an administration outside a licence.
    pytest.param(
        nuclear_medicine(outside_arsac_licence=True), (OtherBody.ARSAC,), id="arsac-licence-breach-L98"
    ),
    pytest.param(nuclear_medicine(), (), id="arsac-licensed-L98"),
]


@pytest.mark.parametrize(("incident", "bodies"), OTHER_BODIES)
def test_other_bodies(incident: IncidentFacts, bodies: tuple[OtherBody, ...]) -> None:
    assert classify(incident).other_bodies == bodies


def test_a_licence_breach_alone_is_not_a_saue() -> None:
    # Line 98: ARSAC is notified; telling the enforcing authority is encouraged, not statutory.
    decision = classify(nuclear_medicine(outside_arsac_licence=True))
    assert not decision.notifiable
    assert decision.other_bodies == (OtherBody.ARSAC,)


@pytest.mark.parametrize(
    "incident",
    [
        pytest.param(ct(0.02, 0.04), id="below-every-threshold-L223"),
        pytest.param(ct(1.0, 12.0), id="notifiable-L227"),
        pytest.param(facts(exposure_kind="near_miss"), id="near-miss-L223"),
        pytest.param(facts(exposure_kind="public", public_effective_dose_msv=0.1), id="public-L223"),
    ],
)
def test_every_incident_is_investigated_locally(incident: IncidentFacts) -> None:
    decision = classify(incident)
    assert decision.local_investigation
    assert any(r.code == "regulation-8(3)" and 223 in r.citation.lines for r in decision.reasons)


@pytest.mark.parametrize(
    ("kind", "reason_code"),
    [
        pytest.param("near_miss", "near-miss", id="near-miss-not-saue-L223"),
        pytest.param("occupational", "not-medical", id="occupational-not-irmer-L395"),
        pytest.param("public", "not-medical", id="public-not-irmer-L395"),
    ],
)
def test_no_exposure_of_a_patient_is_never_a_saue(kind: str, reason_code: str) -> None:
    decision = classify(
        facts(
            exposure_kind=kind,
            individuals_affected=5,
            clinically_significant=True,
            worker_effective_dose_msv=1.0,
            public_effective_dose_msv=0.1,
            intended_effective_dose_msv=0.1,
            total_effective_dose_msv=50.0,
        )
    )
    assert not decision.notifiable
    assert decision.codes == ()
    assert not decision.csaue
    assert decision.reasons[1].code == reason_code


def test_csaue_is_flagged_and_saue_is_not() -> None:
    # Line 78: CSAUE are statutory notifications too; line 85: duty of candour.
    assert classify(ct(0.02, 0.04, clinically_significant=True)).csaue
    saue = classify(ct(1.0, 12.0))
    assert saue.notifiable and not saue.csaue


def test_theme_size_gives_m_from_a_thematic_review() -> None:
    # Line 278: a theme identified over a number of incidents.
    incident = ct(0.02, 0.04, individuals_affected=1)
    assert classify(incident).codes == ()
    decision = classify(incident, theme_individuals=6)
    assert (decision.notifiable, decision.codes) == (True, ("M2.1",))
    (m,) = [r for r in decision.reasons if r.code == "M"]
    assert m.facts == {"individuals": 6}


def test_theme_of_one_is_not_m() -> None:
    assert classify(ct(0.02, 0.04), theme_individuals=1).codes == ()
