"""The facts and decision models, and the rulesets as data."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

import pytest
from pydantic import ValidationError

from sievert_classifier.domain import IRMER_2020_08, IRMER_2023_04, RULESETS, classify, select_ruleset
from sievert_shared.decision import ClassificationDecision
from sievert_shared.facts import IncidentFacts, incident_facts_json_schema
from tests.unit.classifier.classifier_cases import BASE, ct, facts

GUIDANCE_LINES = 533


def test_the_json_schema_documents_every_field() -> None:
    schema = incident_facts_json_schema()
    undocumented = [name for name, spec in schema["properties"].items() if not spec.get("description")]
    assert undocumented == []
    assert set(schema["required"]) == {"nation", "discovered_on", "exposure_kind", "modality"}
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("field", "unit"),
    [
        ("intended_effective_dose_msv", "mSv"),
        ("total_effective_dose_msv", "mSv"),
        ("foetal_dose_mgy", "mGy"),
        ("breastfed_infant_effective_dose_msv", "mSv"),
        ("nm_prescribed_activity_mbq", "MBq"),
        ("nm_delivered_activity_mbq", "MBq"),
        ("worker_effective_dose_msv", "mSv"),
        ("public_effective_dose_msv", "mSv"),
        ("rt_course_dose_ratio", "dimensionless"),
        ("patient_age_years", "years"),
        ("planning_scans", "count"),
    ],
)
def test_quantities_state_their_units(field: str, unit: str) -> None:
    assert unit in incident_facts_json_schema()["properties"][field]["description"]


def test_enum_values_are_lowercase_snake_case() -> None:
    defs = incident_facts_json_schema()["$defs"]
    values = [value for spec in defs.values() for value in spec.get("enum", [])]
    assert values and all(
        value == value.lower() and " " not in value and "-" not in value for value in values
    )
    assert "northern_ireland" in values and "external_beam_radiotherapy" in values


def errors_for(**changes: Any) -> list[tuple[str, ...]]:
    with pytest.raises(ValidationError) as caught:
        IncidentFacts.model_validate({**BASE, **changes})
    return [tuple(str(part) for part in error["loc"]) for error in caught.value.errors()]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"total_effective_dose_msv": -0.1}, "total_effective_dose_msv", id="negative-dose"),
        pytest.param({"foetal_dose_mgy": float("inf")}, "foetal_dose_mgy", id="infinite-dose"),
        pytest.param({"intended_effective_dose_msv": "3"}, "intended_effective_dose_msv", id="dose-as-text"),
        pytest.param({"rt_course_dose_ratio": True}, "rt_course_dose_ratio", id="ratio-as-flag"),
        pytest.param({"patient_age_years": 151}, "patient_age_years", id="age-too-high"),
        pytest.param({"individuals_affected": 2.5}, "individuals_affected", id="fractional-count"),
        pytest.param(
            {"nm_prescribed_activity_mbq": 0.0}, "nm_prescribed_activity_mbq", id="zero-prescription"
        ),
        pytest.param({"equipment_fault": "yes"}, "equipment_fault", id="flag-as-text"),
        pytest.param({"modality": "x-ray-vision"}, "modality", id="unknown-modality"),
        pytest.param({"occurred_on": "2024-06-04"}, "occurred_on", id="occurred-after-discovery"),
        pytest.param({"earlier_doses": [1.0]}, "earlier_doses", id="unknown-field"),
    ],
)
def test_validation_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    assert errors_for(**changes) == [(field,)]


def test_facts_are_frozen() -> None:
    incident = facts()
    with pytest.raises(ValidationError):
        incident.nation = "wales"  # type: ignore[misc, assignment]


def test_facts_round_trip_through_json() -> None:
    incident = ct(1.0, 12.0, occurred_on=date(2024, 6, 1), equipment_type="hand_held", setting="care_home")
    assert IncidentFacts.model_validate_json(incident.model_dump_json()) == incident


def test_a_decision_serialises_with_the_contract_fields() -> None:
    decision = classify(ct(1.0, 12.0, individuals_affected=3))
    data = decision.model_dump(mode="json")
    assert set(data) == {
        "notifiable",
        "status",
        "codes",
        "authority",
        "other_bodies",
        "csaue",
        "voluntary",
        "local_investigation",
        "ruleset",
        "licensing_breach",
        "needs_facts",
        "needs_facts_for_notification",
        "needs_facts_for_routing",
        "reasons",
    }
    assert data["status"] == "notifiable"
    assert data["codes"] == ["M2.2"]
    assert data["authority"] == "cqc"
    reason = next(r for r in data["reasons"] if r["code"] == "2.2")
    assert reason == {
        "code": "2.2",
        "criterion": reason["criterion"],
        "citation": {"source": "cqc-irmer-notification-guidance-2023.txt", "lines": [153, 163]},
        "facts": {
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": 12.0,
            "multiplication_factor": 12.0,
        },
        "outcome": "met",
        "needs": [],
        "needs_affect": None,
    }
    assert "10 or more times" in reason["criterion"]
    assert ClassificationDecision.model_validate(data) == decision


@pytest.mark.parametrize(
    ("discovered_on", "ruleset"),
    [
        pytest.param(date(2023, 4, 18), "irmer-2020-08", id="day-before-update-L5"),
        pytest.param(date(2023, 4, 19), "irmer-2023-04", id="day-of-update-L5"),
        pytest.param(date(2020, 9, 1), "irmer-2020-08", id="august-2020-version-L7"),
        pytest.param(date(2018, 1, 1), "irmer-2020-08", id="before-2020-oldest-known"),
    ],
)
def test_the_ruleset_is_chosen_by_discovery_date(discovered_on: date, ruleset: str) -> None:
    assert select_ruleset(discovered_on).id == ruleset
    decision = classify(facts(discovered_on=discovered_on, occurred_on=None))
    assert decision.ruleset == ruleset
    assert decision.reasons[0].code == "ruleset"
    assert decision.reasons[0].facts == {"discovered_on": discovered_on.isoformat()}


def test_discovery_not_occurrence_picks_the_ruleset() -> None:
    decision = classify(facts(occurred_on=date(2023, 3, 1), discovered_on=date(2023, 5, 1)))
    assert decision.ruleset == "irmer-2023-04"


@pytest.mark.parametrize("ruleset", RULESETS, ids=lambda r: r.id)
def test_every_criterion_cites_lines_of_the_guidance(ruleset: Any) -> None:
    for item in ruleset.criteria.values():
        assert item.text and item.citation.lines, item.key
        assert all(1 <= line <= GUIDANCE_LINES for line in item.citation.lines), item.key
    codes = {item.code for item in ruleset.criteria.values()}
    assert set(ruleset.relevance) <= codes


def test_the_2020_ruleset_differs_only_where_the_guidance_records_a_change() -> None:
    changed = {
        key
        for key in IRMER_2023_04.criteria.keys() | IRMER_2020_08.criteria.keys()
        if IRMER_2023_04.criteria.get(key) != IRMER_2020_08.criteria.get(key)
    }
    # 3, 8 and 9 were amended in 2023 (line 12-16) without the 2020 text being recorded: the 2020
    # ruleset applies the 2023 wording to them and says so in their reasons.
    assert changed == {"ruleset", "4.2b", "4.2c", "5", "7", "7-absent", "3", "8.1", "8.2", "9.1", "9.2"}
    for key in ("3", "8.1", "8.2", "9.1", "9.2"):
        old, new = IRMER_2023_04.criteria[key], IRMER_2020_08.criteria[key]
        assert new.text.startswith(old.text) and "2023 wording" in new.text, key
        assert {12, 14, 15} <= set(new.citation.lines), key
    assert "Codes 3, 8 and 9" in IRMER_2020_08.criteria["ruleset"].text
    assert "7" not in IRMER_2020_08.relevance
    assert (IRMER_2020_08.additional_images_fraction, IRMER_2023_04.additional_images_fraction) == (
        Fraction(1, 5),
        Fraction(1, 2),
    )
    assert (IRMER_2020_08.foetal_threshold_mgy, IRMER_2023_04.foetal_threshold_mgy) == (1.0, 10.0)
