"""The guidance's own worked examples, each under the ruleset(s) it speaks about.

Lines are those of cqc-irmer-notification-guidance-2023.txt.
"""

from __future__ import annotations

import pytest

from sievert_classifier.domain import classify
from sievert_shared.decision import Authority, OtherBody, Outcome
from sievert_shared.facts import IncidentFacts
from tests.unit.classifier.classifier_cases import (
    BEFORE_2023,
    accidental,
    ct,
    facts,
    interventional,
    nuclear_medicine,
    verification,
)


def sabr(**changes: object) -> IncidentFacts:
    """A 5-fraction SABR course with one verification image intended per fraction (line 323-324)."""
    return verification(
        verification_images_intended=5,
        verification_images_in_fraction=2,
        **changes,
    )


# --- Radiotherapy verification imaging, lines 320-324 -------------------------------


def test_line_322_incorrect_set_up_from_protocol_failure_three_images_in_one_fraction() -> None:
    decision = classify(
        verification(
            verification_images_in_fraction=3,
            verification_images_intended=20,
            verification_images_additional=2,
            verification_imaging_cause="protocol_failure",
        )
    )
    assert (decision.notifiable, decision.codes) == (True, ("4.2a",))


def test_line_323_sabr_three_additional_images_for_incorrect_immobilisation() -> None:
    # 3 additional images on different days: 60% of the 5 intended, over the 50% threshold.
    decision = classify(sabr(verification_images_additional=3, verification_imaging_cause="set_up_error"))
    assert (decision.notifiable, decision.codes) == (True, ("4.2b",))


def test_line_323_one_additional_image_triggered_before_2023_but_not_now() -> None:
    # "this threshold was previously set at 20% and would have triggered a notification
    # with only 1 additional image" (1 of 5 is exactly 20%).
    one_extra = {"verification_images_additional": 1, "verification_imaging_cause": "set_up_error"}
    before = classify(sabr(discovered_on=BEFORE_2023, **one_extra))
    now = classify(sabr(**one_extra))
    assert (before.ruleset, before.notifiable, before.codes) == ("irmer-2020-08", True, ("4.2b",))
    assert (now.ruleset, now.notifiable, now.codes) == ("irmer-2023-04", False, ())


def test_line_323_two_additional_images_are_not_enough_now() -> None:
    decision = classify(sabr(verification_images_additional=2, verification_imaging_cause="set_up_error"))
    assert not decision.notifiable


def test_line_324_sabr_three_additional_images_from_a_persistent_mlc_fault() -> None:
    decision = classify(
        sabr(
            verification_images_additional=3,
            verification_imaging_cause="thematic_equipment_failure",
            equipment_fault=True,
        )
    )
    assert (decision.notifiable, decision.codes) == (True, ("E4.2c",))
    assert decision.other_bodies == (OtherBody.MHRA,)


def test_line_324_the_same_mlc_fault_affects_three_patients() -> None:
    # One additional image each, but the fault is thematic across 3 patients.
    decision = classify(
        sabr(
            verification_images_additional=1,
            verification_imaging_cause="equipment_failure",
            equipment_fault=True,
            individuals_affected=3,
        )
    )
    assert (decision.notifiable, decision.codes) == (True, ("ME4.2c",))
    (criterion,) = [r for r in decision.reasons if r.code == "4.2c"]
    assert criterion.outcome is Outcome.MET
    assert 324 in criterion.citation.lines


def test_line_324_one_additional_image_from_an_mlc_fault_triggered_before_2023() -> None:
    incident = {
        "verification_images_additional": 1,
        "verification_imaging_cause": "equipment_failure",
        "equipment_fault": True,
    }
    assert classify(sabr(discovered_on=BEFORE_2023, **incident)).codes == ("E4.2c",)
    assert classify(sabr(**incident)).codes == ()


# --- Incorrect radiopharmaceutical, line 332-334 --------------------------------------


def maa_instead_of_hdp(**changes: object) -> IncidentFacts:
    """Tc-99m MAA given instead of Tc-99m HDP for a bone scan: the right isotope, wrong tracer.

    About 600 MBq: HDP would have given ~2.9 mSv; MAA at that activity ~6.6 mSv.
    """
    return nuclear_medicine(
        incorrect_radiopharmaceutical=True,
        intended_effective_dose_msv=2.9,
        total_effective_dose_msv=6.6,
        **changes,
    )


def test_line_334_tc99m_maa_instead_of_hdp_is_code_7_regardless_of_dose() -> None:
    decision = classify(maa_instead_of_hdp())
    assert (decision.ruleset, decision.notifiable, decision.codes) == ("irmer-2023-04", True, ("7",))
    (criterion,) = [r for r in decision.reasons if r.code == "7"]
    assert criterion.facts == {"incorrect_radiopharmaceutical": True}
    assert {177, 334} <= set(criterion.citation.lines)


def test_line_334_before_2023_the_wrong_tracer_is_judged_on_dose() -> None:
    # Line 10: the incorrect-radiopharmaceutical criteria were added in 2023. 6.6 mSv
    # against an intended 2.9 mSv is band 2.3, which needs 25 mSv.
    decision = classify(maa_instead_of_hdp(discovered_on=BEFORE_2023))
    assert (decision.ruleset, decision.notifiable, decision.codes) == ("irmer-2020-08", False, ())
    by_code = {r.code: r for r in decision.reasons}
    assert by_code["7"].outcome is Outcome.NOT_MET
    assert by_code["2.3"].outcome is Outcome.NOT_MET


# --- Foetal exposure, line 326-330 ----------------------------------------------------


@pytest.mark.parametrize(
    ("discovered_on", "foetal_dose_mgy", "procedural_failure", "notifiable"),
    [
        # Line 330: "report if a foetus has an exposure over 10 mGy - even when procedures were followed".
        pytest.param(None, 12.0, False, True, id="2023-12-mgy-procedures-followed-L330"),
        pytest.param(BEFORE_2023, 12.0, False, False, id="2020-12-mgy-procedures-followed-L328"),
        # Line 328: the threshold was raised from 1 mGy to 10 mGy.
        pytest.param(None, 5.0, True, False, id="2023-5-mgy-procedural-failure-L328"),
        pytest.param(BEFORE_2023, 5.0, True, True, id="2020-5-mgy-procedural-failure-L328"),
    ],
)
def test_line_328_the_foetal_criterion_changed(
    discovered_on: object, foetal_dose_mgy: float, procedural_failure: bool, notifiable: bool
) -> None:
    changes: dict[str, object] = {
        "patient_pregnant": True,
        "foetal_dose_mgy": foetal_dose_mgy,
        "procedural_failure": procedural_failure,
    }
    if discovered_on is not None:
        changes["discovered_on"] = discovered_on
    decision = classify(ct(4.0, 8.0, **changes))
    assert decision.notifiable is notifiable
    assert decision.codes == (("5",) if notifiable else ())


# --- Complementary codes, line 201-204 ------------------------------------------------


def test_line_203_m1_accidental_exposure_of_more_than_one_individual() -> None:
    decision = classify(accidental(total_effective_dose_msv=0.1, individuals_affected=2))
    assert decision.codes == ("M1",)


def test_line_204_m2_1_unintended_exposure_of_more_than_one_individual() -> None:
    decision = classify(ct(0.1, 0.2, individuals_affected=2))
    assert decision.codes == ("M2.1",)


# --- Other worked situations ----------------------------------------------------------


def test_line_153_total_includes_necessary_repeat_exposures() -> None:
    # A 1 mSv CT repeated until ten scans were done: the total is 10 mSv, 10x intended.
    assert classify(ct(1.0, 10.0)).codes == ("2.2",)


def test_line_349_laterality_error_is_an_unintended_exposure_judged_by_the_table() -> None:
    # Wrong-side knee radiograph, then the right side: twice the intended dose, far below 3 mSv.
    wrong_side = classify(
        facts(modality="radiography", intended_effective_dose_msv=0.001, total_effective_dose_msv=0.002)
    )
    assert not wrong_side.notifiable
    assert any(r.code == "2.1" for r in wrong_side.reasons)


def test_line_268_wrong_radiotherapy_plan_caught_before_delivery_offered_voluntarily() -> None:
    decision = classify(
        facts(
            exposure_kind="near_miss",
            modality="external_beam_radiotherapy",
            individuals_affected=0,
            voluntary=True,
        )
    )
    assert (decision.notifiable, decision.voluntary, decision.codes) == (False, True, ("V8.1",))
    assert decision.authority is Authority.CQC
    assert decision.local_investigation


def test_line_300_interventional_without_procedural_failure_offered_for_learning() -> None:
    decision = classify(
        interventional(deterministic_effect="other", deterministic_effect_anticipated=True, voluntary=True)
    )
    assert (decision.notifiable, decision.voluntary, decision.codes) == (False, True, ("V3",))


def test_line_397_over_exposure_at_a_critical_examination_goes_to_hse() -> None:
    decision = classify(
        facts(
            exposure_kind="occupational",
            modality="fluoroscopy",
            worker_effective_dose_msv=22.0,
            equipment_fault=True,
        )
    )
    assert not decision.notifiable
    assert decision.other_bodies == (OtherBody.HSE, OtherBody.MHRA)


def test_line_391_a_device_incident_below_saue_is_still_reported_to_mhra() -> None:
    decision = classify(ct(1.0, 1.5, equipment_fault=True))
    assert (decision.notifiable, decision.other_bodies) == (False, (OtherBody.MHRA,))
