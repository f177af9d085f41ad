"""Patient age from a birth date, at the exposure (else its discovery), through every door.

The classifier's child rules read ``patient_age_years``; engines often send a date of birth
instead (JSON ``patient.birth_date``, HL7 PID-7, FHIR ``Patient.birthDate``). Intake turns it into
completed years at the date of the exposure, else of its discovery, and the birth date goes no
further (docs/intake-mapping.md, "Patient age")."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from sievert_intake.domain.fhir_mapping import map_bundle
from sievert_intake.domain.hl7_mapping import Hl7Incident, decode, map_message, read_header
from sievert_intake.domain.inbound import BirthAfterExposureError, age_at_exposure, derive_age
from sievert_intake.domain.incident import IncidentReport
from sievert_shared.facts import IncidentFacts
from tests.fixtures.intake_support import fhir_fixture, hl7_fixture, replace_segment_field
from tests.support.samples import ct_overexposure

D = dt.date.fromisoformat

# (birth date, occurred_on, discovered_on, age)
ROWS = [
    pytest.param("2015-06-02", "2025-06-02", "2025-06-09", 10, id="birthday-on-the-exposure-day"),
    pytest.param("2015-06-02", "2025-06-01", "2025-06-09", 9, id="day-before-the-birthday"),
    pytest.param("2015-06-01", "2025-05-30", "2025-06-02", 9, id="birthday-between-exposure-and-discovery"),
    pytest.param("2015-06-01", None, "2025-06-02", 10, id="no-exposure-date-discovery-date"),
    pytest.param("2016-02-29", "2025-02-28", "2025-03-10", 8, id="29-feb-born-28-feb-common-year"),
    pytest.param("2016-02-29", "2025-03-01", "2025-03-10", 9, id="29-feb-born-1-mar-common-year"),
    pytest.param("2016-02-29", "2024-02-29", "2024-03-10", 8, id="29-feb-born-29-feb-leap-year"),
    pytest.param("2016-02-29", "2024-02-28", "2024-03-10", 7, id="29-feb-born-28-feb-leap-year"),
    pytest.param("2025-06-02", "2025-06-02", "2025-06-02", 0, id="born-on-the-exposure-day"),
    pytest.param(None, "2025-06-02", "2025-06-09", None, id="no-birth-date-age-stays-unknown"),
]


@pytest.mark.parametrize(("born", "occurred", "discovered", "age"), ROWS)
def test_age_at_exposure(born: str | None, occurred: str | None, discovered: str, age: int | None) -> None:
    assert age_at_exposure(D(born) if born else None, occurred, discovered) == age


def test_a_birth_after_the_exposure_is_refused() -> None:
    with pytest.raises(BirthAfterExposureError):
        age_at_exposure(D("2025-06-03"), "2025-06-02", "2025-06-09")
    # even when it is before the discovery: the exposure is the date that counts
    with pytest.raises(BirthAfterExposureError):
        age_at_exposure(D("2025-06-03"), "2025-06-02", "2025-06-05")


def _facts(occurred: str | None, discovered: str, age: int | None = None) -> dict[str, Any]:
    facts: dict[str, Any] = dict(ct_overexposure()["facts"])
    facts["discovered_on"] = discovered
    facts.pop("patient_age_years")
    if occurred is None:
        facts.pop("occurred_on")
    else:
        facts["occurred_on"] = occurred
    if age is not None:
        facts["patient_age_years"] = age
    return facts


def _by_json(born: str | None, occurred: str | None, discovered: str) -> int | None:
    body = {**ct_overexposure(), "facts": _facts(occurred, discovered)}
    if born is not None:
        body["patient"] = {"nhs_number": "9434765919", "birth_date": born}
    return IncidentReport.model_validate(body).facts.patient_age_years


def _hl7_date(iso: str | None) -> str:
    return iso.replace("-", "") if iso else ""


def _by_hl7(born: str | None, occurred: str | None, discovered: str) -> int | None:
    raw = hl7_fixture("pex_p07_ct_overexposure.hl7")
    raw = replace_segment_field(raw, "PID", 7, _hl7_date(born))
    raw = replace_segment_field(raw, "PEO", 3, _hl7_date(occurred))
    raw = replace_segment_field(raw, "PES", 9, _hl7_date(discovered))
    text = decode(raw)
    mapped = map_message(text, read_header(text))
    assert isinstance(mapped, Hl7Incident)
    facts = dict(mapped.submission.facts)
    derive_age(facts, mapped.submission.birth_date)
    return IncidentFacts.model_validate(facts).patient_age_years


def _by_fhir(born: str | None, occurred: str | None, discovered: str) -> int | None:
    body = copy.deepcopy(fhir_fixture("bundle_ct_overexposure.json"))
    for entry in body["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource.pop("birthDate")
            if born is not None:
                resource["birthDate"] = born
        if resource["resourceType"] == "AdverseEvent":
            resource.pop("date")
            if occurred is not None:
                resource["date"] = f"{occurred}T14:20:00+01:00"
            resource["detected"] = f"{discovered}T10:15:00+01:00"
    submission = map_bundle(body).submission
    facts = dict(submission.facts)
    derive_age(facts, submission.birth_date)
    return IncidentFacts.model_validate(facts).patient_age_years


DOORS = [
    pytest.param(_by_json, id="json"),
    pytest.param(_by_hl7, id="hl7"),
    pytest.param(_by_fhir, id="fhir"),
]


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("born", "occurred", "discovered", "age"), ROWS)
def test_every_door_derives_the_same_age(
    door: Any, born: str | None, occurred: str | None, discovered: str, age: int | None
) -> None:
    assert door(born, occurred, discovered) == age


def test_an_age_the_facts_give_is_kept() -> None:
    facts = _facts("2025-06-02", "2025-06-09", age=40)
    derive_age(facts, D("2015-06-02"))
    assert facts["patient_age_years"] == 40
    body = {**ct_overexposure(), "facts": facts, "patient": {"birth_date": "2015-06-02"}}
    assert IncidentReport.model_validate(body).facts.patient_age_years == 40


def test_an_amendment_reckons_at_the_incident_s_dates_when_the_message_has_none() -> None:
    current = IncidentFacts.model_validate(_facts("2025-05-30", "2025-06-02"))
    patch: dict[str, Any] = {"total_effective_dose_msv": 15.0}
    derive_age(patch, D("2015-06-01"), current)
    assert patch["patient_age_years"] == 9  # at the exposure on 30 May, before the birthday
    cleared: dict[str, Any] = {"occurred_on": None}
    derive_age(cleared, D("2015-06-01"), current)
    assert cleared["patient_age_years"] == 10  # exposure date withdrawn: at the discovery


def test_json_refuses_a_birth_date_after_the_exposure_with_its_path() -> None:
    body = {**ct_overexposure(), "facts": _facts("2025-06-02", "2025-06-09")}
    body["patient"] = {"birth_date": "2025-06-05"}
    with pytest.raises(
        ValidationError, match=r"patient\.birth_date: the date of birth 2025-06-05 is after 2025-06-02"
    ):
        IncidentReport.model_validate(body)


def test_the_birth_date_is_not_in_the_facts() -> None:
    body = {**ct_overexposure(), "facts": _facts("2025-06-02", "2025-06-09")}
    body["patient"] = {"birth_date": "2015-06-02", "family_name": "Quixote"}
    dumped = IncidentReport.model_validate(body).facts.model_dump_json()
    assert "2015" not in dumped and "Quixote" not in dumped
