"""HL7 v2 to incident facts, without I/O: what each segment feeds, and the precise refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from sievert_intake.domain.hl7_mapping import (
    Facility,
    Hl7ContentError,
    Hl7Demographics,
    Hl7Incident,
    Hl7Rejected,
    build_ack,
    decode,
    map_message,
    read_header,
)
from tests.fixtures.intake_support import hl7_fixture, parse_ack, replace_segment_field


def mapped(raw: bytes, facilities: dict[str, Facility] | None = None) -> Hl7Incident:
    text = decode(raw)
    result = map_message(text, read_header(text), facilities)
    assert isinstance(result, Hl7Incident)
    return result


def test_pex_p07_maps_every_segment_it_reads() -> None:
    result = mapped(hl7_fixture("pex_p07_ct_overexposure.hl7"))
    sub = result.submission
    assert (sub.tenant.trust, sub.tenant.site) == ("RXX", "RXX01")  # MSH-4, PV1-3.4
    assert sub.channel == "hl7v2"
    assert sub.source_message_id == "PEX0001"  # MSH-10
    assert sub.reference == "INC-2025-0042"  # PES-5
    assert sub.birth_date == dt.date(1970, 12, 31)  # PID-7, for the age only
    assert sub.facts == {
        "discovered_on": "2025-06-02",  # PES-9
        "occurred_on": "2025-05-30",  # PEO-3
        "exposure_kind": "unintended",  # PEO-2
        "modality": "ct",  # PCR-3
        "intended_effective_dose_msv": 1.0,  # 1000 uSv
        "total_effective_dose_msv": 12.0,  # 0.012 Sv
        "nation": "england",
    }
    assert str(result.provenance["total_effective_dose_msv"]) == "OBX[2]-5"


def test_no_patient_identifier_leaves_the_mapping() -> None:
    sub = mapped(hl7_fixture("pex_p07_ct_overexposure.hl7")).submission
    text = repr(sub)
    for identifier in ("9434765919", "SMITH", "M123456", "HIGH STREET", "1970"):
        assert identifier not in text


def test_oru_r01_converts_units_and_reads_the_reference() -> None:
    sub = mapped(hl7_fixture("oru_r01_nm_therapy.hl7")).submission
    assert sub.reference == "INC-2025-0100"  # OBR-3
    assert sub.facts["nm_prescribed_activity_mbq"] == 3700.0  # 100 mCi
    assert sub.facts["nm_delivered_activity_mbq"] == 5550.0  # 5.55 GBq
    assert sub.facts["rt_course_dose_ratio"] == 1.5  # 150 %
    assert sub.tenant.site == "RXX02"


def test_configured_facility_gives_trust_site_and_nation() -> None:
    raw = replace_segment_field(hl7_fixture("oru_r01_dose_update.hl7"), "PV1", 3, "")
    raw = raw.replace(b"|RIS|RXX|", b"|RIS|LEEDSRIS|")
    sub = mapped(raw, {"LEEDSRIS": Facility(trust="RR8", site="RR801", nation="england")}).submission
    assert (sub.tenant.trust, sub.tenant.site, sub.facts["nation"]) == ("RR8", "RR801", "england")


def test_adt_is_accepted_without_mapping_facts() -> None:
    text = decode(hl7_fixture("adt_a08_update.hl7"))
    assert isinstance(map_message(text, read_header(text)), Hl7Demographics)


@pytest.mark.parametrize(
    ("raw", "location", "code"),
    [
        pytest.param(b"PID|1||123\r", "MSH-1", 100, id="missing-MSH"),
        pytest.param(
            b"MSH|^~\\|A|RXX|B|C|20250101||PEX^P07|1|P|2.5.1\r", "MSH-2", 102, id="three-encoding-chars"
        ),
        pytest.param(
            b"MSH|^^\\&|A|RXX|B|C|20250101||PEX^P07|1|P|2.5.1\r", "MSH-2", 102, id="repeated-encoding-char"
        ),
        pytest.param(
            b"MSH|^~\\&|A|RXX|B|C|20250101||SIU^S12|1|P|2.5.1\r", "MSH-9", 200, id="unknown-message-type"
        ),
        pytest.param(
            b"MSH|^~\\&|A|RXX|B|C|20250101||ADT^A01|1|P|2.5.1\r", "MSH-9", 201, id="unknown-trigger"
        ),
        pytest.param(b"MSH|^~\\&|A|RXX|B|C|20250101||PEX^P07|1|P|2.2\r", "MSH-12", 203, id="old-version"),
        pytest.param(b"MSH|^~\\&|A|RXX|B|C|20250101||PEX^P07||P|2.5.1\r", "MSH-10", 101, id="no-control-id"),
    ],
)
def test_unreadable_messages_are_rejected_naming_the_field(raw: bytes, location: str, code: int) -> None:
    with pytest.raises(Hl7Rejected) as caught:
        read_header(decode(raw))
    (problem,) = caught.value.problems
    assert problem.location is not None
    assert f"{problem.location.segment}-{problem.location.field}" == location
    assert problem.code == code


@pytest.mark.parametrize(
    ("segment", "field", "value", "occurrence", "location", "needle"),
    [
        pytest.param("OBX", 5, "twelve", 2, "OBX[2]-5", "not a number", id="wrong-type"),
        pytest.param("OBX", 6, "mGy", 2, "OBX[2]-6", "cannot be converted", id="unit-of-another-quantity"),
        pytest.param("OBX", 2, "ST", 1, "OBX-2", "not NM", id="value-type-not-numeric"),
        pytest.param("PES", 9, "2025-06-02", 1, "PES-9", "not an HL7 date", id="iso-date-in-ts"),
        pytest.param(
            "OBX", 3, "bogus^x^99SVT", 3, "OBX[3]-3", "not a Sievert observation code", id="unknown-code"
        ),
    ],
)
def test_wrong_content_names_segment_and_field(
    segment: str, field: int, value: str, occurrence: int, location: str, needle: str
) -> None:
    raw = replace_segment_field(hl7_fixture("pex_p07_ct_overexposure.hl7"), segment, field, value, occurrence)
    with pytest.raises(Hl7ContentError) as caught:
        mapped(raw)
    assert [str(p.location).split(".")[0] for p in caught.value.problems] == [location]
    assert needle in caught.value.problems[0].message


def test_ack_names_segment_field_and_problem() -> None:
    header = read_header(decode(hl7_fixture("pex_p07_ct_overexposure.hl7")))
    raw = replace_segment_field(hl7_fixture("pex_p07_ct_overexposure.hl7"), "OBX", 6, "rem", 2)
    with pytest.raises(Hl7ContentError) as caught:
        mapped(raw)
    ack = parse_ack(
        build_ack(
            "AE",
            header=header,
            control_id="A1",
            now=dt.datetime(2025, 6, 2, tzinfo=dt.UTC),
            problems=caught.value.problems,
        ).encode()
    )
    assert (ack.code, ack.control_id) == ("AE", "PEX0001")
    assert ack.error_locations() == ["OBX-6"]
    assert ack.errors()[0][2].split("^")[1] == "2"  # the second OBX
    assert "rem" in ack.errors()[0][8]


def test_old_versions_get_err_1() -> None:
    header = read_header(decode(hl7_fixture("oru_r01_dose_update.hl7")))  # v2.4
    with pytest.raises(Hl7ContentError) as caught:
        mapped(replace_segment_field(hl7_fixture("oru_r01_dose_update.hl7"), "OBX", 5, "x", 1))
    text = build_ack(
        "AE",
        header=header,
        control_id="A",
        now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        problems=caught.value.problems,
    )
    err = next(s for s in text.split("\r") if s.startswith("ERR"))
    assert err.startswith("ERR|OBX^1^5^102&Data type error&HL70357")
