"""What ``POST /v1/dose-records`` accepts: a pseudonym that is never a name, doses in units of a
dose equivalent, and periods that do not overlap a record already received unless corrected."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from sievert_intake.domain.dose_records import (
    DoseRecordOverlapError,
    DoseRecordReport,
    HeldRecord,
    pseudonym_problem,
    superseded_by,
)
from sievert_shared.events.doses import PERSON_PSEUDONYM_PATTERN, DoseRecordReceived


def body(**changes: Any) -> dict[str, Any]:
    return {
        "trust": "RXX",
        "site": "RXX01",
        "nation": "england",
        "person_pseudonym": "DW-004211",
        "category": "classified_worker",
        "period_start": "2024-03-01",
        "period_end": "2024-03-31",
        "doses": {"hp10_msv": 0.4, "hp3_msv": 1.2},
        **changes,
    }


def errors_of(payload: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        DoseRecordReport.model_validate(payload)
    return {"/".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param("DW-004211", None, id="wearer-code"),
        pytest.param("4711", None, id="digits-only-code"),
        pytest.param("w.00012_a", None, id="code-with-punctuation"),
        pytest.param("Jane Smith", "looks like a name", id="name-with-space"),
        pytest.param("Smith", "at least one digit", id="surname"),
        pytest.param("O'Neil7", "looks like a name", id="apostrophe"),
        pytest.param("jane.smith@nhs.net", "looks like a name", id="email"),
        pytest.param("943 476 5919", "NHS number", id="nhs-number-spaced"),
        pytest.param("9434765919", "NHS number", id="nhs-number"),
        pytest.param("A1", "4 to 64", id="too-short"),
    ],
)
def test_dose_record_pseudonym_is_never_a_name(value: str, problem: str | None) -> None:
    found = pseudonym_problem(value)
    assert found is None if problem is None else problem in (found or "")


def test_dose_record_pseudonym_rule_is_stricter_than_the_event_pattern() -> None:
    # What intake accepts, the event's schema accepts: a pseudonym intake lets through never fails
    # validation on the classifier's side.
    for accepted in ("DW-004211", "4711", "w.00012_a", "Z9Z9"):
        assert pseudonym_problem(accepted) is None
        assert re.match(PERSON_PSEUDONYM_PATTERN, accepted)
    assert re.match(PERSON_PSEUDONYM_PATTERN, "Jane Smith") is None


def test_dose_record_names_the_bad_pseudonym() -> None:
    assert "person_pseudonym" in errors_of(body(person_pseudonym="Jane Smith"))


@pytest.mark.parametrize(
    ("dose", "expected_msv"),
    [
        pytest.param({"value": 1500, "unit": "uSv"}, 1.5, id="microsievert"),
        pytest.param({"value": 1500, "unit": "µSv"}, 1.5, id="micro-sign"),
        pytest.param({"value": "0.002", "unit": "Sv"}, 2.0, id="sievert"),
        pytest.param(0.75, 0.75, id="bare-number-is-msv"),
    ],
)
def test_dose_record_doses_are_converted_to_msv(dose: Any, expected_msv: float) -> None:
    report = DoseRecordReport.model_validate(body(doses={"hp10_msv": dose}))
    assert report.doses.hp10_msv == expected_msv


def test_dose_record_in_gy_is_refused_naming_the_field_and_its_units() -> None:
    errors = errors_of(
        body(doses={"hp3_msv": {"value": 2, "unit": "mGy"}, "extremity_msv": {"value": 1, "unit": "Gy"}})
    )
    assert set(errors) == {"doses/hp3_msv", "doses/extremity_msv"}
    assert "hp3_msv" in errors["doses/hp3_msv"] and "Sv, mSv, uSv, nSv" in errors["doses/hp3_msv"]
    assert "'Gy'" in errors["doses/extremity_msv"]


def test_dose_record_needs_a_dose_and_periods_in_order() -> None:
    assert "doses" in errors_of(body(doses={}))
    assert any("period_end is before" in msg for msg in errors_of(body(period_end="2024-02-01")).values())
    late = errors_of(body(pregnancy_declared_on="2024-04-02"))
    assert any("pregnancy_declared_on" in msg for msg in late.values())


def test_dose_record_carries_only_the_pseudonym_into_its_event() -> None:
    report = DoseRecordReport.model_validate(body())
    event = DoseRecordReceived(
        record_id=uuid.uuid4(),
        **report.model_dump(
            include={"person_pseudonym", "category", "nation", "period_start", "period_end", "doses"}
        ),
    )
    assert event.person_pseudonym == "DW-004211"


MARCH = HeldRecord(uuid.uuid4(), dt.date(2024, 3, 1), dt.date(2024, 3, 31))
APRIL = HeldRecord(uuid.uuid4(), dt.date(2024, 4, 1), dt.date(2024, 4, 30))


@pytest.mark.parametrize(
    ("start", "end", "correction", "expected"),
    [
        pytest.param("2024-05-01", "2024-05-31", False, [], id="next-month-overlaps-nothing"),
        pytest.param(
            "2024-05-01", "2024-05-31", True, [], id="correction-overlapping-nothing-replaces-nothing"
        ),
        pytest.param(
            "2024-03-31", "2024-04-15", True, [MARCH.record_id, APRIL.record_id], id="correction-of-two"
        ),
        pytest.param("2024-04-01", "2024-04-30", True, [APRIL.record_id], id="correction-of-the-same-period"),
        pytest.param("2024-04-30", "2024-05-30", False, None, id="one-shared-day-overlaps"),
        pytest.param("2024-03-01", "2024-03-31", False, None, id="same-period-again"),
    ],
)
def test_dose_record_overlap_is_refused_unless_corrected(
    start: str, end: str, correction: bool, expected: list[uuid.UUID] | None
) -> None:
    report = DoseRecordReport.model_validate(body(period_start=start, period_end=end, correction=correction))
    if expected is None:
        with pytest.raises(DoseRecordOverlapError) as caught:
            superseded_by(report, [MARCH, APRIL])
        assert caught.value.status == 409
        assert caught.value.extra["overlapping"]
    else:
        assert superseded_by(report, [MARCH, APRIL]) == expected
