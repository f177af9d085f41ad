"""Properties of the classifier that hold for every incident, checked with hypothesis."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sievert_classifier.domain import classify
from sievert_shared.decision import ClassificationDecision, DecisionStatus, NeedsAffect, Outcome
from sievert_shared.facts import (
    AnatomyError,
    CareSetting,
    DeterministicEffect,
    DoseVolume,
    EquipmentType,
    ExposureKind,
    GeographicalMiss,
    IncidentFacts,
    Modality,
    Nation,
    VerificationImagingCause,
)
from tests.unit.classifier.classifier_cases import BASE

#: Codes 2.1-2.4 apply to these (line 159); the properties are about diagnostic doses.
DIAGNOSTIC = [
    Modality.RADIOGRAPHY,
    Modality.FLUOROSCOPY,
    Modality.CT,
    Modality.MAMMOGRAPHY,
    Modality.DENTAL,
    Modality.DIAGNOSTIC_NUCLEAR_MEDICINE,
]
GUIDANCE_LINES = 533
CODE = re.compile(
    r"^(?P<prefix>M?E?V?C?)(?P<code>1|2\.[1-4]|3|4\.1|4\.2[abc]|5|6|7|8\.[12]|9\.[12]|10\.[12])$"
)

doses = st.floats(min_value=0, max_value=500, allow_nan=False, allow_infinity=False)
nations = st.sampled_from(list(Nation))
exposed = st.sampled_from([ExposureKind.ACCIDENTAL, ExposureKind.UNINTENDED])
dates = st.dates(min_value=date(2019, 1, 1), max_value=date(2027, 12, 31))
flags = st.none() | st.booleans()
counts = st.none() | st.integers(min_value=0, max_value=40)
ratios = st.none() | st.floats(min_value=0, max_value=3, allow_nan=False)


def diagnostic(**fields: Any) -> IncidentFacts:
    return IncidentFacts.model_validate({**BASE, **fields})


@settings(max_examples=300, deadline=None)
@given(
    nation=nations,
    kind=exposed,
    modality=st.sampled_from(DIAGNOSTIC),
    age=st.none() | st.integers(min_value=0, max_value=100),
    intended=st.none() | doses,
    total=doses,
    more=doses,
    discovered_on=dates,
)
def test_more_total_dose_never_makes_a_notifiable_incident_non_notifiable(
    nation: Nation,
    kind: ExposureKind,
    modality: Modality,
    age: int | None,
    intended: float | None,
    total: float,
    more: float,
    discovered_on: date,
) -> None:
    common = {
        "nation": nation,
        "exposure_kind": kind,
        "modality": modality,
        "patient_age_years": age,
        "intended_effective_dose_msv": intended,
        "discovered_on": discovered_on,
    }
    lower = classify(diagnostic(**common, total_effective_dose_msv=total))
    higher = classify(diagnostic(**common, total_effective_dose_msv=total + more))
    if lower.notifiable:
        assert higher.notifiable, (lower.codes, higher.reasons)


@settings(max_examples=300, deadline=None)
@given(
    nation=nations,
    kind=exposed,
    modality=st.sampled_from(DIAGNOSTIC),
    child_age=st.integers(min_value=0, max_value=15),
    adult_age=st.integers(min_value=18, max_value=110),
    intended=st.none() | doses,
    total=st.none() | doses,
    discovered_on=dates,
)
def test_a_child_is_never_less_notifiable_than_an_adult(
    nation: Nation,
    kind: ExposureKind,
    modality: Modality,
    child_age: int,
    adult_age: int,
    intended: float | None,
    total: float | None,
    discovered_on: date,
) -> None:
    common = {
        "nation": nation,
        "exposure_kind": kind,
        "modality": modality,
        "intended_effective_dose_msv": intended,
        "total_effective_dose_msv": total,
        "discovered_on": discovered_on,
    }
    adult = classify(diagnostic(**common, patient_age_years=adult_age))
    child = classify(diagnostic(**common, patient_age_years=child_age))
    if adult.notifiable:
        assert child.notifiable, (adult.codes, child.reasons)


@settings(max_examples=200, deadline=None)
@given(
    tenths=st.integers(min_value=30, max_value=249),
    factor=st.sampled_from(["10", "10.0", "12.5"]),
)
def test_the_multiplication_factor_is_exact_at_the_boundary(tenths: int, factor: str) -> None:
    # Line 153 and 163: total / intended >= 10, compared as the decimals the user wrote.
    intended = Decimal(tenths) / 100
    total = intended * Decimal(factor)
    decision = classify(
        diagnostic(intended_effective_dose_msv=float(intended), total_effective_dose_msv=float(total))
    )
    assert decision.codes == ("2.2",)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


any_incident = st.fixed_dictionaries(
    {
        "nation": nations,
        "discovered_on": dates,
        "exposure_kind": st.sampled_from(list(ExposureKind)),
        "modality": st.sampled_from(list(Modality)),
    },
    optional={
        "patient_age_years": optional(st.integers(min_value=0, max_value=150)),
        "individuals_affected": counts,
        "patient_pregnant": flags,
        "patient_breastfeeding": flags,
        "intended_effective_dose_msv": optional(doses),
        "total_effective_dose_msv": optional(doses),
        "foetal_dose_mgy": optional(doses),
        "breastfed_infant_effective_dose_msv": optional(doses),
        "rt_course_dose_ratio": ratios,
        "rt_max_fraction_dose_ratio": ratios,
        "rt_dose_volume": optional(st.sampled_from(list(DoseVolume))),
        "geographical_miss": optional(st.sampled_from(list(GeographicalMiss))),
        "geographical_miss_margin_ratio": ratios,
        "planning_scans": counts,
        "verification_images_in_fraction": counts,
        "verification_images_intended": counts,
        "verification_images_additional": counts,
        "verification_imaging_cause": optional(st.sampled_from(list(VerificationImagingCause))),
        "nm_prescribed_activity_mbq": optional(st.floats(min_value=1, max_value=10_000)),
        "nm_delivered_activity_mbq": optional(st.floats(min_value=0, max_value=12_000)),
        "deterministic_effect": optional(st.sampled_from(list(DeterministicEffect))),
        "deterministic_effect_anticipated": flags,
        "procedural_failure": flags,
        "equipment_fault": flags,
        "incorrect_radiopharmaceutical": flags,
        "clinically_significant": flags,
        "voluntary": flags,
        "outside_arsac_licence": flags,
        "worker_effective_dose_msv": optional(doses),
        "public_effective_dose_msv": optional(doses),
        "equipment_type": optional(st.sampled_from(list(EquipmentType))),
        "setting": optional(st.sampled_from(list(CareSetting))),
        "rt_prescribed_dose_gy": optional(st.floats(min_value=0.5, max_value=80)),
        "rt_delivered_dose_gy": optional(st.floats(min_value=0, max_value=100)),
        "rt_prescribed_fraction_dose_gy": optional(st.floats(min_value=0.5, max_value=20)),
        "rt_max_fraction_delivered_dose_gy": optional(st.floats(min_value=0, max_value=30)),
        "rt_fractions_prescribed": counts,
        "rt_fractions_delivered": counts,
        "rt_whole_course_delivered": flags,
        "anatomy_error": optional(st.sampled_from(list(AnatomyError))),
        "equipment_fault_thematic": flags,
        "medicine_defect": flags,
        "equipment_manufacturer": optional(st.sampled_from(["Acme", "Radiant Ltd"])),
        "equipment_model": optional(st.sampled_from(["HX-1", "Linac 9"])),
    },
).map(IncidentFacts.model_validate)


@settings(max_examples=500, deadline=None)
@given(incident=any_incident, theme=st.none() | st.integers(min_value=0, max_value=50))
def test_every_decision_is_well_formed(incident: IncidentFacts, theme: int | None) -> None:
    decision = classify(incident, theme_individuals=theme)

    for position, code in enumerate(decision.codes):
        match = CODE.match(code)
        assert match, code
        # Prefixes go on the most relevant code only (line 287).
        assert position == 0 or not match["prefix"]
    if decision.notifiable:
        assert incident.exposure_kind in (ExposureKind.ACCIDENTAL, ExposureKind.UNINTENDED)
        assert decision.codes or decision.needs_facts
    assert not (decision.notifiable and decision.voluntary)
    assert not decision.codes or decision.notifiable or decision.voluntary
    assert not decision.csaue or decision.notifiable
    assert decision.local_investigation
    assert decision.ruleset == (
        "irmer-2023-04" if incident.discovered_on >= date(2023, 4, 19) else "irmer-2020-08"
    )

    order = list(IncidentFacts.model_fields)
    assert list(decision.needs_facts) == sorted(decision.needs_facts, key=order.index)
    # What is settled and what is open: the status follows from notifiable and the notification
    # needs; routing needs never hold it open; needs_facts is the union, in field order.
    for_notification = set(decision.needs_facts_for_notification)
    for_routing = set(decision.needs_facts_for_routing)
    assert not for_notification & for_routing
    assert set(decision.needs_facts) == for_notification | for_routing
    for split in (decision.needs_facts_for_notification, decision.needs_facts_for_routing):
        assert list(split) == sorted(split, key=order.index)
    if decision.notifiable:
        assert decision.status is DecisionStatus.NOTIFIABLE
    else:
        assert decision.status is (
            DecisionStatus.UNDECIDED if for_notification else DecisionStatus.NOT_NOTIFIABLE
        )
    assert not decision.licensing_breach or incident.outside_arsac_licence is True
    for reason in decision.reasons:
        assert set(reason.needs) <= set(decision.needs_facts)
        assert (reason.outcome is Outcome.NEEDS_FACTS) == bool(reason.needs)
        assert (reason.needs_affect is None) == (not reason.needs)
        if reason.needs_affect is NeedsAffect.NOTIFICATION:
            assert set(reason.needs) <= for_notification
        assert reason.citation.lines
        assert all(1 <= line <= GUIDANCE_LINES for line in reason.citation.lines)


@settings(max_examples=200, deadline=None)
@given(incident=any_incident, prior=doses)
def test_earlier_cumulative_dose_never_gates_a_decision(incident: IncidentFacts, prior: float) -> None:
    # UKHSA/BIR joint position statement (July 2023): earlier doses may be shown, never used.
    with_history = incident.model_copy(update={"prior_cumulative_effective_dose_msv": prior})
    assert classify(with_history) == classify(incident)


@settings(max_examples=300, deadline=None)
@given(incident=any_incident, theme=st.none() | st.integers(min_value=0, max_value=50))
def test_routing_facts_never_change_the_notification(incident: IncidentFacts, theme: int | None) -> None:
    # A fact listed as routing only, whatever its value, leaves notifiable and the codes' categories
    # alone: settle every routing fact both ways and compare.
    decision = classify(incident, theme_individuals=theme)
    routing = [name for name in decision.needs_facts_for_routing if name in ROUTING_ANSWERS]
    if not routing:
        return
    for answer in (0, 1):
        settled = incident.model_copy(update={name: ROUTING_ANSWERS[name][answer] for name in routing})
        after = classify(settled, theme_individuals=theme)
        assert after.notifiable == decision.notifiable
        if decision.status is not DecisionStatus.UNDECIDED:
            assert after.status is decision.status
        assert [c.lstrip("MEVC") for c in after.codes if decision.notifiable] == [
            c.lstrip("MEVC") for c in decision.codes if decision.notifiable
        ]


#: Two answers for each routing fact the property above settles.
ROUTING_ANSWERS: dict[str, tuple[Any, Any]] = {
    "equipment_fault": (False, True),
    "outside_arsac_licence": (False, True),
    "worker_effective_dose_msv": (1.0, 30.0),
    "public_effective_dose_msv": (0.1, 3.0),
}


@settings(max_examples=200, deadline=None)
@given(incident=any_incident)
def test_classify_is_pure_and_its_decision_round_trips_through_json(incident: IncidentFacts) -> None:
    decision = classify(incident)
    assert classify(incident) == decision
    assert ClassificationDecision.model_validate_json(decision.model_dump_json()) == decision
