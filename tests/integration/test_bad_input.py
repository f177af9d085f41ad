"""Bad input is answered at the door, never with a 5xx: NUL characters, deep nesting, implausible
dates, numbers for dates, through every door of the running intake (HTTP JSON, FHIR, MLLP), over
real PostgreSQL and Kafka. Nothing is stored for any of them."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.fixtures.intake_support import (
    FS_CR,
    VT,
    MllpClient,
    RunningIntake,
    fhir_fixture,
    hl7_fixture,
    parse_ack,
    replace_segment_field,
    running_intake,
    with_control_id,
)
from tests.support.infra import Infra
from tests.support.kafka import eventually
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

PEX = hl7_fixture("pex_p07_ct_overexposure.hl7")
ORU = hl7_fixture("oru_r01_radiotherapy_overdose.hl7")
TOMORROW_BUT_ONE = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[RunningIntake]:
    async with running_intake(infra, topic_prefix, make_database) as running:
        yield running


async def stored(intake: RunningIntake) -> int:
    return await intake.count("SELECT count(*) FROM events")


async def test_nul_character_in_query_path_and_json_is_422_naming_the_field(intake: RunningIntake) -> None:
    report = ct_overexposure()
    report["facts"]["equipment_model"] = "Scan\u0000ner"
    answer = await intake.http.post("/v1/incidents", json=report)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in answer.json()["errors"]] == ["body/facts/equipment_model"]

    answer = await intake.http.get("/v1/trusts/RXX/admin-log", params={"after": "a\u0000b"})
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["query/after"]

    answer = await intake.http.get("/v1/incidents/%00")
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["path"]

    lone_surrogate = json.dumps(ct_overexposure()).replace('"RXX01"', '"RXX01\\ud800"', 1)
    answer = await intake.http.post(
        "/v1/incidents", content=lone_surrogate, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["body/site"]
    assert await stored(intake) == 0


async def test_nul_character_in_an_hl7_field_is_ae_naming_it(intake: RunningIntake) -> None:
    peer = await intake.mllp()
    try:
        ack = await peer.request(replace_segment_field(PEX, "PES", 5, "INC\x00-0042^DATIX"))
    finally:
        await peer.close()
    assert (ack.code, ack.control_id) == ("AE", "PEX0001")
    assert ack.error_locations() == ["PES-5"]
    assert await stored(intake) == 0


async def test_nesting_depth_over_the_limit_is_400_before_parsing(intake: RunningIntake) -> None:
    deep = "[" * 5000 + "]" * 5000
    for path, content_type in (
        ("/fhir", "application/fhir+json"),
        ("/fhir/AdverseEvent", "application/fhir+json"),
        ("/fhir", "text/plain"),  # FHIR reads the body whatever its label
        ("/v1/incidents", "application/json"),
    ):
        answer = await intake.http.post(path, content=deep, headers={"content-type": content_type})
        assert answer.status_code == 400, path
        assert "nested deeper" in answer.json()["detail"]
    # Within the limit, a FHIR body is still read (and refused for what it says).
    answer = await intake.http.post(
        "/fhir", content="[" * 50 + "]" * 50, headers={"content-type": "application/fhir+json"}
    )
    assert answer.status_code == 400
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert await stored(intake) == 0


@pytest.mark.parametrize(
    "day",
    [
        pytest.param("9999-12-31", id="far-future"),
        pytest.param(TOMORROW_BUT_ONE.isoformat(), id="day-after-tomorrow"),
        pytest.param("0001-01-01", id="year-one"),
        pytest.param("2018-02-05", id="day-before-irmer-2017"),
    ],
)
async def test_implausible_date_is_refused_at_every_door(intake: RunningIntake, day: str) -> None:
    report = ct_overexposure()
    report["facts"]["discovered_on"] = day
    report["facts"]["occurred_on"] = day
    answer = await intake.http.post("/v1/incidents", json=report)
    assert answer.status_code == 422
    assert {e["path"] for e in answer.json()["errors"]} == {
        "body/facts/discovered_on",
        "body/facts/occurred_on",
    }

    bundle = fhir_fixture("bundle_ct_overexposure.json")
    event = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    event["detected"] = day
    event.pop("date", None)
    answer = await intake.http.post("/fhir", json=bundle, headers={"content-type": "application/fhir+json"})
    assert answer.status_code == 422
    assert ["Bundle.entry[0].resource.detected"] in [i["expression"] for i in answer.json()["issue"]]

    hl7_day = day.replace("-", "")
    peer = await intake.mllp()
    try:
        ack = await peer.request(replace_segment_field(PEX, "PES", 9, hl7_day))
    finally:
        await peer.close()
    assert ack.code == "AE"
    assert "PES-9" in ack.error_locations()
    assert await stored(intake) == 0


async def test_implausible_date_in_an_amendment_is_refused(intake: RunningIntake) -> None:
    created = await intake.http.post("/v1/incidents", json=ct_overexposure())
    assert created.status_code == 202
    answer = await intake.http.post(
        f"{created.headers['location']}/amendments",
        json={"expected_version": 1, "facts": {"discovered_on": "9999-12-31"}, "reason": "typo"},
    )
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["body/facts/discovered_on"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0, id="zero"),
        pytest.param(1749859200, id="unix-seconds"),
        pytest.param("1749859200", id="unix-seconds-as-text"),
        pytest.param(True, id="boolean"),
    ],
)
async def test_strict_date_a_number_is_never_a_date(intake: RunningIntake, value: Any) -> None:
    report = ct_overexposure()
    report["facts"]["discovered_on"] = value
    answer = await intake.http.post("/v1/incidents", json=report)
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["body/facts/discovered_on"]
    dose = {
        "trust": "RXX",
        "site": "RXX01",
        "nation": "england",
        "person_pseudonym": "DW-004211",
        "category": "classified_worker",
        "period_start": value,
        "period_end": "2024-07-31",
        "doses": {"hp10_msv": 0.4},
    }
    answer = await intake.http.post("/v1/dose-records", json=dose)
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["body/period_start"]
    assert await stored(intake) == 0


async def test_a_contained_location_resolves_inside_a_transaction_bundle(intake: RunningIntake) -> None:
    bundle = fhir_fixture("bundle_ct_overexposure.json")
    entries = bundle["entry"]
    event = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "AdverseEvent")
    location_entry = next(e for e in entries if e["resource"]["resourceType"] == "Location")
    entries.remove(location_entry)
    contained = copy.deepcopy(location_entry["resource"])
    contained["id"] = "loc"
    event["contained"] = [contained]
    event["location"] = {"reference": "#loc"}
    answer = await intake.http.post("/fhir", json=bundle, headers={"content-type": "application/fhir+json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["entry"][0]["response"]["status"] == "201 Created"


async def test_oru_with_lf_line_endings_is_read_and_ar_echoes_the_control_id(intake: RunningIntake) -> None:
    peer = await intake.mllp()
    try:
        ack = await peer.request(with_control_id(ORU, "LF0001").replace(b"\r", b"\n"))
        assert (ack.code, ack.control_id) == ("AA", "LF0001")
        # An unreadable header still has a readable control id: the AR names it.
        ack = await peer.request(with_control_id(PEX, "BAD0001").replace(b"^~\\&", b"^^^^", 1))
        assert (ack.code, ack.control_id) == ("AR", "BAD0001")
    finally:
        await peer.close()


async def test_junk_full_of_start_blocks_draws_one_answer(intake: RunningIntake) -> None:
    peer = await intake.mllp()
    try:
        await peer.send_raw(VT + (b"junk" + VT) * 25_000 + with_control_id(PEX, "AFTER01") + FS_CR)
        answers = [parse_ack(await peer.read_raw()) for _ in range(2)]
    finally:
        await peer.close()
    assert [(a.code, a.control_id) for a in answers] == [("AR", ""), ("AA", "AFTER01")]


async def test_every_door_answers_and_the_service_stays_ready(intake: RunningIntake) -> None:
    """After all of the above kinds of input, the service is still ready: nothing crashed."""
    peer: MllpClient = await intake.mllp()
    try:
        ack = await peer.request(with_control_id(PEX, "OK0001"))
    finally:
        await peer.close()
    assert ack.code == "AA"

    async def ready() -> None:
        # ready once its consumer's group has given it its partitions: polled, not assumed at start
        assert (await intake.http.get("/readyz")).status_code == 200

    await eventually(ready)
