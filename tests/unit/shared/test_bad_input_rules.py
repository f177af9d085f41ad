"""The door's rules as pure functions: characters that cannot be stored, JSON nesting depth,
strict and plausible dates, and what the OpenAPI documents say every route answers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers

from sievert_deadlines.entrypoints.incidents import ExtensionAgreed, SubmissionRecorded
from sievert_deadlines.entrypoints.withdrawal import WithdrawalAgreed
from sievert_intake.domain.hl7_mapping import decode, read_header, salvage_header, unstorable_fields
from sievert_intake.domain.inbound import FactsInvalidError, implausible_dates, validate_new
from sievert_reporting.entrypoints.local_investigation import Close
from sievert_shared.door_dates import REGULATIONS_IN_FORCE, CalendarDate, EventDate, StrictDate, implausible
from sievert_shared.facts import IncidentFacts
from sievert_shared.input_guard import body_problems, json_depth_exceeds, unstorable, unstorable_strings

TODAY = dt.date(2026, 3, 1)
JSON = Headers({"content-type": "application/json"})


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        pytest.param("plain", False, id="plain"),
        pytest.param("caf\u00e9 \u00b5Sv", False, id="non-ascii"),
        pytest.param("a\u0000b", True, id="nul_character"),
        pytest.param("\ud800", True, id="lone-surrogate"),
    ],
)
def test_nul_character_and_surrogates_cannot_be_stored(text: str, refused: bool) -> None:
    assert (unstorable(text) is not None) is refused


def test_nul_character_is_named_by_its_path_in_the_body() -> None:
    body = {"facts": {"equipment_model": "x\u0000"}, "list": ["ok", "\u0000"], "k\u0000": 1}
    assert [path for path, _ in unstorable_strings(body, "body")] == [
        "body/facts/equipment_model",
        "body/list/1",
        "body/k\\u0000",
    ]
    raw = json.dumps(body).encode()
    status, found = body_problems(raw, JSON, 64)
    assert status == 422
    assert [path for path, _ in found] == ["body/facts/equipment_model", "body/list/1", "body/k\\u0000"]


def test_nul_byte_in_any_body_is_refused() -> None:
    status, found = body_problems(b"trust,site\nRXX,\x00", Headers({"content-type": "text/csv"}), 64)
    assert (status, [p for p, _ in found]) == (422, ["body"])


@pytest.mark.parametrize(
    ("body", "exceeds"),
    [
        pytest.param(b"[" * 64 + b"]" * 64, False, id="at-the-limit"),
        pytest.param(b"[" * 65 + b"]" * 65, True, id="one-over"),
        pytest.param(b'{"a": "' + b"[" * 500 + b'"}', False, id="brackets-inside-a-string"),
        pytest.param(b'["\\"' + b"[" * 100 + b'"]', False, id="escaped-quote-then-brackets"),
        pytest.param(b"[{}]" * 1000, False, id="wide-not-deep"),
    ],
)
def test_nesting_depth(body: bytes, exceeds: bool) -> None:
    assert json_depth_exceeds(body, 64) is exceeds


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/fhir+json", "text/plain", ""], ids=str
)
def test_nesting_depth_over_the_limit_is_400_whatever_the_label(content_type: str) -> None:
    status, found = body_problems(b"[" * 10_000, Headers({"content-type": content_type}), 64)
    assert status == 400
    assert "nested deeper than 64" in found[0][1]


@pytest.mark.parametrize(
    ("day", "why"),
    [
        pytest.param(REGULATIONS_IN_FORCE, None, id="the-day-irmer-2017-came-into-force"),
        pytest.param(
            REGULATIONS_IN_FORCE - dt.timedelta(days=1), "before IR(ME)R", id="implausible_date-before"
        ),
        pytest.param(dt.date(1, 1, 1), "before IR(ME)R", id="implausible_date-year-one"),
        pytest.param(TODAY + dt.timedelta(days=1), None, id="tomorrow-clock-skew"),
        pytest.param(TODAY + dt.timedelta(days=2), "in the future", id="implausible_date-day-after-tomorrow"),
        pytest.param(dt.date(9999, 12, 31), "in the future", id="implausible_date-9999"),
    ],
)
def test_implausible_date_window(day: dt.date, why: str | None) -> None:
    found = implausible(day, TODAY)
    assert (found is None) if why is None else (found is not None and why in found)


def test_implausible_date_facts_are_named() -> None:
    problems = implausible_dates({"discovered_on": "9999-12-31", "occurred_on": "2025-01-01"}, TODAY)
    assert [p.fact for p in problems] == ["discovered_on"]
    facts = {"nation": "england", "exposure_kind": "unintended", "modality": "ct"}
    with pytest.raises(FactsInvalidError) as refused:
        validate_new({**facts, "discovered_on": "0001-01-01"}, TODAY)
    assert [p.fact for p in refused.value.problems] == ["discovered_on"]
    assert validate_new({**facts, "discovered_on": "2025-06-02"}, TODAY).discovered_on == dt.date(2025, 6, 2)


class _Dates(BaseModel):
    strict: StrictDate | None = None
    calendar: CalendarDate | None = None
    event: EventDate | None = None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("strict", 0, id="strict_date-zero"),
        pytest.param("strict", 1749859200, id="strict_date-unix-seconds"),
        pytest.param("strict", "1749859200", id="strict_date-unix-seconds-as-text"),
        pytest.param("strict", 1.5, id="strict_date-float"),
        pytest.param("strict", True, id="strict_date-boolean"),
        pytest.param("strict", "2025-06-02T00:00:00", id="strict_date-datetime-text"),
        pytest.param("calendar", "9999-12-31", id="strict_date-calendar-overflows"),
        pytest.param("event", "9999-12-31", id="implausible_date-event"),
        pytest.param("event", "2017-12-31", id="implausible_date-event-before"),
    ],
)
def test_strict_date_refuses_what_is_not_a_date(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        _Dates.model_validate({field: value})


def test_strict_date_accepts_iso_text_and_dates() -> None:
    parsed = _Dates.model_validate(
        {"strict": "2025-06-02", "calendar": dt.date(2030, 1, 1), "event": "2025-06-02"}
    )
    assert parsed.strict == parsed.event == dt.date(2025, 6, 2)


def test_strict_date_in_the_incident_facts() -> None:
    facts = {"nation": "england", "exposure_kind": "unintended", "modality": "ct"}
    with pytest.raises(ValidationError):
        IncidentFacts.model_validate({**facts, "discovered_on": 0})
    assert IncidentFacts.model_validate({**facts, "discovered_on": "2025-06-02"}).discovered_on.year == 2025


@pytest.mark.parametrize(
    ("model", "body"),
    [
        pytest.param(WithdrawalAgreed, {"agreed_on": 0}, id="strict_date-deadlines-withdrawal"),
        pytest.param(
            WithdrawalAgreed, {"agreed_on": "9999-12-31"}, id="implausible_date-deadlines-withdrawal"
        ),
        pytest.param(ExtensionAgreed, {"extended_to": "9999-12-31"}, id="strict_date-deadlines-extension"),
        pytest.param(SubmissionRecorded, {"submitted_at": 0}, id="strict_date-deadlines-submitted-at"),
        pytest.param(
            SubmissionRecorded, {"submitted_at": "9999-12-31T10:00:00Z"}, id="implausible_date-submitted-at"
        ),
        pytest.param(Close, {"closed_on": 20250602}, id="strict_date-reporting-close-out"),
    ],
)
def test_strict_date_in_the_other_services_request_bodies(
    model: type[BaseModel], body: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body, strict=False)
    assert {str(e["loc"][0]) for e in refused.value.errors()} >= set(body)


PEX = (
    b"MSH|^~\\&|RIS|RXX|SIEVERT|RXX|20250610120000||PEX^P07^PEX_P07|MSG1|P|2.5\r"
    b"PES|||||REF\x00X||||20250609\r"
)


def test_nul_character_in_hl7_names_its_segment_and_field() -> None:
    text = decode(PEX)
    problems = unstorable_fields(text, read_header(text))
    assert [(p.location.segment, p.location.field) for p in problems if p.location] == [("PES", 5)]


def test_hl7_lf_line_endings_read_as_segments() -> None:
    header = read_header(decode(PEX.replace(b"\x00", b"").replace(b"\r", b"\n")))
    assert (header.version, header.control_id) == ("2.5", "MSG1")


def test_hl7_control_id_salvaged_from_an_unreadable_header() -> None:
    header = salvage_header(PEX.replace(b"^~\\&", b"^^^^"))
    assert header is not None and header.control_id == "MSG1"
    assert salvage_header(b"junk") is None
