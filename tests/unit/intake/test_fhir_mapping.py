"""FHIR R4 to incident facts, without I/O; and the three ways in agree on the same incident."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sievert_intake.domain.fhir_mapping import (
    FhirInvalid,
    capability_statement,
    map_adverse_event,
    map_bundle,
    render_adverse_event,
    validate,
)
from sievert_intake.domain.hl7_mapping import decode, map_message, read_header
from sievert_intake.domain.inbound import Submission, age_in_years, validate_new
from sievert_shared.envelope import Tenant
from sievert_shared.facts import IncidentFacts
from tests.fixtures.intake_support import fhir_fixture, hl7_fixture
from tests.support.samples import ct_overexposure


def facts_of(sub: Submission) -> IncidentFacts:
    raw = dict(sub.facts)
    if sub.birth_date is not None:
        raw["patient_age_years"] = age_in_years(
            sub.birth_date, IncidentFacts.model_validate(raw).discovered_on
        )
    return validate_new(raw)


def test_bundle_maps_to_facts_and_tenant() -> None:
    body = fhir_fixture("bundle_ct_overexposure.json")
    validate(body, ("Bundle",))
    sub = map_bundle(body).submission
    assert (sub.tenant.trust, sub.tenant.site) == ("RXX", "RXX01")
    assert sub.reference == "INC-2025-0042"
    assert sub.source_message_id == "urn:uuid:7d0a0c52-9f3e-4d0c-9b39-2f1a1d1e0001"
    assert sub.facts["modality"] == "ct"  # DICOM CT
    assert sub.facts["intended_effective_dose_msv"] == 1.0  # 1000 uSv
    assert sub.facts["nation"] == "england"  # Organization.address.country GB-ENG


def test_json_hl7_and_fhir_give_identical_facts_for_the_same_incident() -> None:
    from_json = IncidentFacts.model_validate(ct_overexposure()["facts"])
    text = decode(hl7_fixture("pex_p07_ct_overexposure.hl7"))
    hl7_result = map_message(text, read_header(text))
    fhir_result = map_bundle(fhir_fixture("bundle_ct_overexposure.json"))
    assert facts_of(hl7_result.submission) == from_json  # type: ignore[union-attr]
    assert facts_of(fhir_result.submission) == from_json


def test_contained_adverse_event_maps() -> None:
    body = fhir_fixture("adverse_event_radiography_repeat.json")
    validate(body, ("AdverseEvent",))
    sub = map_adverse_event(body).submission
    assert sub.facts["total_effective_dose_msv"] == 0.04  # 40 uSv
    assert sub.tenant.site == "RXX01"


def _bad(mutate: Any) -> dict[str, Any]:
    body = copy.deepcopy(fhir_fixture("bundle_ct_overexposure.json"))
    mutate(body)
    return body


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        pytest.param(
            _bad(lambda b: b["entry"][6]["resource"]["valueQuantity"].update(value="lots")),
            "Bundle.entry[6].resource.valueQuantity.value",
            id="not-a-decimal",
        ),
        pytest.param(
            _bad(lambda b: b["entry"][0]["resource"].update(detected="02/06/2025")),
            "Bundle.entry[0].resource.detected",
            id="not-a-dateTime",
        ),
        pytest.param(
            _bad(lambda b: b["entry"][0]["resource"].pop("subject")),
            "Bundle.entry[0].resource.subject",
            id="missing-required-element",
        ),
    ],
)
def test_invalid_fhir_names_the_element(body: dict[str, Any], expression: str) -> None:
    with pytest.raises(FhirInvalid) as caught:
        validate(body, ("Bundle",))
    assert expression in [i.expression for i in caught.value.issues]


def test_unconvertible_unit_names_the_quantity_code() -> None:
    body = _bad(lambda b: b["entry"][6]["resource"]["valueQuantity"].update(code="mGy", unit="mGy"))
    validate(body, ("Bundle",))
    with pytest.raises(FhirInvalid) as caught:
        map_bundle(body)
    assert [i.expression for i in caught.value.issues] == ["Bundle.entry[6].resource.valueQuantity.code"]


def test_rendered_adverse_event_is_valid_r4_and_maps_back_to_the_same_facts() -> None:
    facts = IncidentFacts.model_validate({**ct_overexposure()["facts"], "patient_age_years": 54})
    rendered = render_adverse_event("0b1c", Tenant(trust="RXX", site="RXX01"), facts, "INC-1", 1)
    rendered.pop("id")
    validate(rendered, ("AdverseEvent",))
    assert validate_new(map_adverse_event(rendered).submission.facts) == facts


def test_capability_statement_is_valid() -> None:
    import datetime as dt

    assert validate(capability_statement(dt.datetime(2025, 6, 2, tzinfo=dt.UTC)), ("CapabilityStatement",))
