"""The facts added with IncidentReported v3 (radiotherapy doses in Gy, the anatomy exposed in error,
the equipment's context, a defective medicine) arrive the same way through every door, and a dose in
the unit of another quantity is refused naming the fact and the units it accepts."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from sievert_intake.domain.fhir_mapping import (
    FhirInvalid,
    map_adverse_event,
    map_bundle,
    render_adverse_event,
    validate,
)
from sievert_intake.domain.hl7_mapping import (
    Hl7ContentError,
    Hl7Incident,
    build_ack,
    decode,
    locate,
    map_message,
    read_header,
)
from sievert_intake.domain.inbound import (
    CODE_FOR_FACT,
    FACT_CODE_SYSTEM,
    NOT_OBSERVATIONS,
    OBSERVATION_CODES,
    FactKind,
    FactsInvalidError,
    ProblemKind,
    age_in_years,
    validate_amended,
    validate_new,
)
from sievert_intake.domain.incident import AmendmentInvalidError, IncidentReport, apply_amendment
from sievert_intake.domain.units import Dimension
from sievert_shared.envelope import Tenant
from sievert_shared.facts import IncidentFacts
from tests.fixtures.intake_support import (
    fhir_fixture,
    hl7_fixture,
    parse_ack,
    radiotherapy_overdose,
)

GY_UNITS = "accepted: Gy, cGy, mGy"
MSV_UNITS = "accepted: Sv, mSv, uSv, nSv"
PEX = hl7_fixture("pex_p07_ct_overexposure.hl7")  # three OBX: a fourth is OBX[4]
CONTAINED = fhir_fixture("adverse_event_radiography_repeat.json")  # six contained resources


def with_obx(value_type: str, code: str, value: str, unit: str = "") -> bytes:
    return PEX + f"OBX|4|{value_type}|{code}^{code}^99SVT||{value}|{unit}|||||F\r".encode()


def hl7_mapped(message: bytes) -> Hl7Incident:
    text = decode(message)
    result = map_message(text, read_header(text))
    assert isinstance(result, Hl7Incident)
    return result


def with_observation(code: str, value: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(CONTAINED)
    body["contained"].append(
        {
            "resourceType": "Observation",
            "id": "added",
            "status": "final",
            "code": {"coding": [{"system": FACT_CODE_SYSTEM, "code": code}]},
            **value,
        }
    )
    validate(body, ("AdverseEvent",))
    return body


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}}


def test_every_fact_has_one_observation_code_of_its_kind() -> None:
    assert set(CODE_FOR_FACT) == set(IncidentFacts.model_fields) - NOT_OBSERVATIONS
    for fact in ("rt_prescribed_dose_gy", "rt_max_fraction_delivered_dose_gy"):
        spec = OBSERVATION_CODES[CODE_FOR_FACT[fact]]
        assert (spec.kind, spec.dimension) == (FactKind.QUANTITY, Dimension.THERAPY_DOSE)
    for fact in ("equipment_manufacturer", "equipment_model"):
        assert OBSERVATION_CODES[CODE_FOR_FACT[fact]].kind is FactKind.TEXT  # never lower-cased


# code, HL7 (OBX-2, OBX-5, OBX-6), FHIR Observation value, the fact and its value
MAPPED = [
    pytest.param(
        "rt_prescribed_dose", ("NM", "6000", "cGy"), quantity(60, "Gy"), "rt_prescribed_dose_gy", 60.0,
        id="radiotherapy_gy-prescribed-course-cGy",
    ),
    pytest.param(
        "rt_delivered_dose", ("NM", "66", "Gy"), quantity(66000, "mGy"), "rt_delivered_dose_gy", 66.0,
        id="radiotherapy_gy-delivered-course-mGy",
    ),
    pytest.param(
        "rt_prescribed_fraction_dose", ("NM", "180", "cGy"), quantity(1.8, "Gy"),
        "rt_prescribed_fraction_dose_gy", 1.8, id="radiotherapy_gy-prescribed-fraction",
    ),
    pytest.param(
        "rt_max_fraction_delivered_dose", ("NM", "2200", "mGy"), quantity(220, "cGy"),
        "rt_max_fraction_delivered_dose_gy", 2.2, id="radiotherapy_gy-highest-fraction",
    ),
    pytest.param(
        "rt_fractions_prescribed", ("NM", "30", ""), {"valueInteger": 30}, "rt_fractions_prescribed", 30,
        id="radiotherapy_gy-fractions-prescribed",
    ),
    pytest.param(
        "rt_fractions_delivered", ("NM", "1", ""), {"valueInteger": 1}, "rt_fractions_delivered", 1,
        id="radiotherapy_gy-fractions-delivered",
    ),
    pytest.param(
        "rt_whole_course_delivered", ("CE", "Y", ""), {"valueBoolean": True}, "rt_whole_course_delivered",
        True, id="radiotherapy_gy-whole-course",
    ),
    pytest.param(
        "anatomy_error", ("CE", "WRONG_SIDE", ""),
        {"valueCodeableConcept": {"coding": [{"code": "wrong_side"}]}}, "anatomy_error", "wrong_side",
        id="anatomy-wrong-side",
    ),
    pytest.param(
        "anatomy_error", ("CWE", "wrong_site", ""), {"valueString": "Wrong_Site"}, "anatomy_error",
        "wrong_site", id="anatomy-wrong-site",
    ),
    pytest.param(
        "equipment_fault_thematic", ("CE", "Y", ""), {"valueBoolean": True}, "equipment_fault_thematic", True,
        id="equipment_context-thematic-fault",
    ),
    pytest.param(
        "medicine_defect", ("ID", "N", ""), {"valueBoolean": False}, "medicine_defect", False,
        id="equipment_context-medicine-defect",
    ),
    pytest.param(
        "equipment_manufacturer", ("ST", "Siemens Healthineers", ""),
        {"valueString": "Siemens Healthineers"}, "equipment_manufacturer", "Siemens Healthineers",
        id="equipment_context-manufacturer-keeps-its-case",
    ),
    pytest.param(
        "equipment_model", ("ST", "Versa HD", ""), {"valueCodeableConcept": {"text": "Versa HD"}},
        "equipment_model", "Versa HD", id="equipment_context-model-keeps-its-case",
    ),
    pytest.param(
        "equipment_type", ("CE", "hand_held", ""),
        {"valueCodeableConcept": {"coding": [{"code": "hand_held"}]}}, "equipment_type", "hand_held",
        id="equipment_context-device-type",
    ),
    pytest.param(
        "nm_delivered_activity", ("NM", "5.55", "GBq"), quantity(150, "mCi"), "nm_delivered_activity_mbq",
        5550.0, id="activity-in-MBq",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("code", "hl7", "fhir", "fact", "expected"), MAPPED)
def test_hl7_obx_and_fhir_observation_carry_the_fact(
    code: str, hl7: tuple[str, str, str], fhir: dict[str, Any], fact: str, expected: Any
) -> None:
    from_hl7 = hl7_mapped(with_obx(hl7[0], code, hl7[1], hl7[2]))
    from_fhir = map_adverse_event(with_observation(code, fhir))
    assert from_hl7.submission.facts[fact] == from_fhir.submission.facts[fact] == expected
    assert str(from_hl7.provenance[fact]) == "OBX[4]-5"
    assert from_fhir.provenance[fact].startswith("AdverseEvent.contained[6].value")


# code, the unit sent, the fact, the units the refusal names
WRONG_UNITS = [
    pytest.param("rt_delivered_dose", "mSv", "rt_delivered_dose_gy", GY_UNITS, id="unit-mSv-where-Gy"),
    pytest.param("rt_prescribed_dose", "Sv", "rt_prescribed_dose_gy", GY_UNITS, id="unit-Sv-where-Gy"),
    pytest.param(
        "rt_max_fraction_delivered_dose", "", "rt_max_fraction_delivered_dose_gy", "Gy, cGy, mGy",
        id="unit-radiotherapy_gy-without-a-unit",
    ),
    pytest.param(
        "total_effective_dose", "Gy", "total_effective_dose_msv", MSV_UNITS, id="unit-Gy-where-mSv"
    ),
    pytest.param("foetal_dose", "mSv", "foetal_dose_mgy", "accepted: Gy, cGy, mGy, uGy", id="unit-mSv-where-mGy"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "unit", "fact", "accepted"), WRONG_UNITS)
def test_hl7_refuses_a_wrong_unit_at_obx_6_naming_the_fact(
    code: str, unit: str, fact: str, accepted: str
) -> None:
    message = with_obx("NM", code, "2", unit)
    with pytest.raises(Hl7ContentError) as caught:
        hl7_mapped(message)
    (problem,) = caught.value.problems
    assert str(problem.location) == "OBX[4]-6.1"
    assert problem.code == 103
    assert problem.message.startswith(f"{fact}: ")
    assert accepted in problem.message
    ack = parse_ack(
        build_ack(
            "AE",
            header=read_header(decode(message)),
            control_id="A1",
            now=dt.datetime(2025, 6, 10, tzinfo=dt.UTC),
            problems=caught.value.problems,
        ).encode()
    )
    assert (ack.code, ack.error_locations(), ack.error_codes()) == ("AE", ["OBX-6"], ["103"])
    assert fact in ack.errors()[0][8]


@pytest.mark.parametrize(("code", "unit", "fact", "accepted"), WRONG_UNITS)
def test_fhir_refuses_a_wrong_unit_at_the_quantity_code_naming_the_fact(
    code: str, unit: str, fact: str, accepted: str
) -> None:
    sent: dict[str, Any] = {"value": 2, "system": "http://unitsofmeasure.org"}
    if unit:
        sent["code"] = unit
    with pytest.raises(FhirInvalid) as caught:
        map_adverse_event(with_observation(code, {"valueQuantity": sent}))
    (issue,) = caught.value.issues
    assert issue.expression == "AdverseEvent.contained[6].valueQuantity.code"
    assert issue.message.startswith(f"{fact}: ")
    assert accepted in issue.message


@pytest.mark.parametrize(("code", "unit", "fact", "accepted"), WRONG_UNITS)
def test_json_refuses_a_wrong_unit_naming_the_fact_path_and_its_units(
    code: str, unit: str, fact: str, accepted: str
) -> None:
    body = radiotherapy_overdose()
    body["facts"][fact] = {"value": 2, "unit": unit}
    with pytest.raises(ValidationError) as caught:
        IncidentReport.model_validate(body)
    (error,) = caught.value.errors()
    assert (error["loc"], error["type"]) == (("facts", fact), "unit")
    assert accepted in error["msg"]

    current = IncidentReport.model_validate(radiotherapy_overdose()).facts
    with pytest.raises(AmendmentInvalidError) as amended:
        apply_amendment(current, {fact: {"value": 2, "unit": unit}})
    assert [(e["path"], e["type"]) for e in amended.value.errors] == [(f"body/facts/{fact}", "unit")]
    assert accepted in amended.value.errors[0]["message"]


@pytest.mark.parametrize(("code", "unit", "fact", "accepted"), WRONG_UNITS)
def test_validate_new_and_amended_give_a_unit_problem_naming_the_fact(
    code: str, unit: str, fact: str, accepted: str
) -> None:
    raw = {**radiotherapy_overdose()["facts"], fact: {"value": 2, "unit": unit}}
    with pytest.raises(FactsInvalidError) as new:
        validate_new(raw)
    current = validate_new(radiotherapy_overdose()["facts"])
    with pytest.raises(FactsInvalidError) as amended:
        validate_amended(current, {fact: {"value": 2, "unit": unit}})
    for caught in (new, amended):
        (problem,) = caught.value.problems
        assert (problem.fact, problem.kind) == (fact, ProblemKind.UNIT)
        assert accepted in problem.message
        assert fact not in problem.message  # each door puts the fact's name or place in front


def test_unit_problems_are_listed_with_every_other_bad_fact() -> None:
    raw = {
        **radiotherapy_overdose()["facts"],
        "rt_delivered_dose_gy": {"value": 2, "unit": "mSv"},
        "total_effective_dose_msv": {"value": 2, "unit": "Gy"},
        "anatomy_error": "left",
    }
    del raw["nation"]
    with pytest.raises(FactsInvalidError) as caught:
        validate_new(raw)
    assert {(p.fact, p.kind) for p in caught.value.problems} == {
        ("nation", ProblemKind.REQUIRED),
        ("rt_delivered_dose_gy", ProblemKind.UNIT),
        ("total_effective_dose_msv", ProblemKind.UNIT),
        ("anatomy_error", ProblemKind.VALUE),
    }
    body = radiotherapy_overdose()
    body["facts"] = raw
    with pytest.raises(ValidationError) as json_caught:
        IncidentReport.model_validate(body)
    assert {(e["loc"][-1], e["type"]) for e in json_caught.value.errors()} == {
        ("nation", "missing"),
        ("rt_delivered_dose_gy", "unit"),
        ("total_effective_dose_msv", "unit"),
        ("anatomy_error", "enum"),
    }


def test_a_unit_problem_located_for_hl7_names_the_fact_once() -> None:
    result = hl7_mapped(hl7_fixture("oru_r01_radiotherapy_overdose.hl7"))
    with pytest.raises(FactsInvalidError) as caught:
        validate_new({**result.submission.facts, "rt_delivered_dose_gy": {"value": 2, "unit": "mSv"}})
    (located,) = locate(caught.value.problems, result.provenance, result.header)
    assert str(located.location) == "OBX[8]-5"
    assert str(located).count("rt_delivered_dose_gy") == 1


def facts_of(facts: dict[str, Any], birth_date: dt.date | None) -> IncidentFacts:
    raw = dict(facts)
    if birth_date is not None:
        raw["patient_age_years"] = age_in_years(birth_date, dt.date.fromisoformat(raw["occurred_on"]))
    return validate_new(raw)


def test_json_hl7_and_fhir_give_identical_radiotherapy_facts_in_gy() -> None:
    from_json = IncidentReport.model_validate(radiotherapy_overdose()).facts
    from_hl7 = hl7_mapped(hl7_fixture("oru_r01_radiotherapy_overdose.hl7")).submission
    from_fhir = map_bundle(fhir_fixture("bundle_radiotherapy_overdose.json")).submission
    assert from_hl7.reference == from_fhir.reference == "INC-2025-0200"
    assert facts_of(from_hl7.facts, from_hl7.birth_date) == from_json
    assert facts_of(from_fhir.facts, from_fhir.birth_date) == from_json
    doses = from_json.model_dump(
        include={name for name in IncidentFacts.model_fields if name.endswith("_gy")}
    )
    assert doses == {
        "rt_prescribed_dose_gy": 60.0,
        "rt_delivered_dose_gy": 66.0,
        "rt_prescribed_fraction_dose_gy": 2.0,
        "rt_max_fraction_delivered_dose_gy": 2.2,
    }
    assert (from_json.equipment_manufacturer, from_json.equipment_model) == ("Elekta", "Versa HD")


def test_rendered_adverse_event_carries_the_new_facts_and_maps_back() -> None:
    facts = IncidentReport.model_validate(radiotherapy_overdose()).facts
    rendered = render_adverse_event("0b1c", Tenant(trust="RXX", site="RXX01"), facts, "INC-2025-0200", 1)
    rendered.pop("id")
    validate(rendered, ("AdverseEvent",))
    observations = {c["id"]: c for c in rendered["contained"] if c["resourceType"] == "Observation"}
    assert observations["rt-delivered-dose"]["valueQuantity"]["code"] == "Gy"
    assert observations["equipment-model"]["valueString"] == "Versa HD"
    assert validate_new(map_adverse_event(rendered).submission.facts) == facts
