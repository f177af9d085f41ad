"""Radiotherapy doses in Gy through every door of the running intake, with the classifier running on
the same topics, against real PostgreSQL and Kafka: a dose in the unit of another quantity is refused
naming the field and the units it accepts, and nothing is stored; the same dose in Gy (or cGy, mGy)
reaches the classifier's decision as Gy."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.fixtures.intake_support import (
    RunningIntake,
    fhir_fixture,
    hl7_fixture,
    radiotherapy_overdose,
    replace_segment_field,
    running_intake_and_classifier,
    with_control_id,
)
from tests.support.infra import Infra
from tests.support.kafka import envelopes, read_topic

pytestmark = pytest.mark.integration

GY_UNITS = "accepted: Gy, cGy, mGy"
ORU = hl7_fixture("oru_r01_radiotherapy_overdose.hl7")  # OBX 8: rt_delivered_dose, 66 Gy
BUNDLE = fhir_fixture("bundle_radiotherapy_overdose.json")  # entry 7: rt_delivered_dose, 6600 cGy


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[RunningIntake]:
    """Intake, and the classifier consuming what it publishes."""
    async with running_intake_and_classifier(infra, topic_prefix, make_database) as running:
        yield running


@dataclass(frozen=True)
class Refusal:
    """A door's refusal, read the same way for each: where it points and what it says."""

    status: str
    locations: list[str]
    text: str


async def _json_report(intake: RunningIntake, unit: str) -> Refusal | None:
    body = radiotherapy_overdose()
    body["facts"]["rt_delivered_dose_gy"] = {"value": 66, "unit": unit}
    response = await intake.http.post("/v1/incidents", json=body)
    return _json_answer(response.status_code, response.headers["content-type"], response.json())


async def _json_amendment(intake: RunningIntake, unit: str) -> Refusal | None:
    incident = await _only_incident(intake)
    correction = {
        "expected_version": 1,
        "facts": {"rt_delivered_dose_gy": {"value": 6.6, "unit": unit}},
        "reason": "delivered dose re-read from the record-and-verify system",
    }
    response = await intake.http.post(f"/v1/incidents/{incident}/amendments", json=correction)
    return _json_answer(response.status_code, response.headers["content-type"], response.json())


def _json_answer(status: int, content_type: str, body: dict[str, Any]) -> Refusal | None:
    if status == 202:
        return None
    assert content_type == "application/problem+json"
    return Refusal(
        str(status), [e["path"] for e in body["errors"]], " ".join(e["message"] for e in body["errors"])
    )


async def _fhir_bundle(intake: RunningIntake, unit: str, message_id: str) -> Refusal | None:
    bundle = copy.deepcopy(BUNDLE)
    bundle["identifier"]["value"] = message_id
    bundle["entry"][7]["resource"]["valueQuantity"].update(code=unit, unit=unit)
    response = await intake.http.post("/fhir", json=bundle, headers={"Content-Type": "application/fhir+json"})
    if response.status_code == 200:
        return None
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return Refusal(
        str(response.status_code),
        [e for issue in outcome["issue"] for e in issue.get("expression", [])],
        " ".join(issue["diagnostics"] for issue in outcome["issue"]),
    )


async def _hl7_message(intake: RunningIntake, unit: str, control_id: str) -> Refusal | None:
    message = with_control_id(replace_segment_field(ORU, "OBX", 6, f"{unit}^^UCUM", 8), control_id)
    peer = await intake.mllp()
    try:
        ack = await peer.request(message)
    finally:
        await peer.close()
    if ack.code == "AA":
        return None
    sequences = [err[2].split("^")[1] for err in ack.errors()]
    return Refusal(
        f"{ack.code} {' '.join(ack.error_codes())}",
        [f"{where} of OBX {n}" for where, n in zip(ack.error_locations(), sequences, strict=True)],
        " ".join(err[8] for err in ack.errors()),
    )


Send = Callable[[RunningIntake, str], Awaitable[Refusal | None]]


async def _fhir_new(intake: RunningIntake, unit: str) -> Refusal | None:
    return await _fhir_bundle(intake, unit, "urn:uuid:7d0a0c52-9f3e-4d0c-9b39-2f1a1d1e0200")


async def _fhir_correction(intake: RunningIntake, unit: str) -> Refusal | None:
    return await _fhir_bundle(intake, unit, "urn:uuid:7d0a0c52-9f3e-4d0c-9b39-2f1a1d1e0201")


async def _hl7_new(intake: RunningIntake, unit: str) -> Refusal | None:
    return await _hl7_message(intake, unit, "ORU0003")


async def _hl7_correction(intake: RunningIntake, unit: str) -> Refusal | None:
    return await _hl7_message(intake, unit, "ORU0004")


# door, its new report, its correction (the sender's reference names the incident), the unit its
# sample sends the delivered dose in, and where its refusal of that dose in mSv or Sv points
DOORS = [
    pytest.param(_json_report, _json_amendment, "Gy", "422", "body/facts/rt_delivered_dose_gy", id="json"),
    pytest.param(
        _fhir_new, _fhir_correction, "cGy", "400", "Bundle.entry[7].resource.valueQuantity.code", id="fhir"
    ),
    pytest.param(_hl7_new, _hl7_correction, "Gy", "AE 103", "OBX-6 of OBX 8", id="hl7-over-mllp"),
]


async def _only_incident(intake: RunningIntake) -> str:
    conn = await asyncpg.connect(intake.database_url)
    try:
        (incident,) = await conn.fetch("SELECT DISTINCT stream_id FROM events")
        return str(incident["stream_id"])
    finally:
        await conn.close()


async def _stored(intake: RunningIntake) -> tuple[int, int]:
    return (
        await intake.count("SELECT count(*) FROM events"),
        await intake.count("SELECT count(*) FROM outbox"),
    )


@pytest.mark.parametrize(("report", "correct", "unit", "status", "location"), DOORS)
async def test_a_radiotherapy_dose_in_msv_is_refused_and_in_gy_reaches_the_decision(
    intake: RunningIntake,
    infra: Infra,
    report: Send,
    correct: Send,
    unit: str,
    status: str,
    location: str,
) -> None:
    refusal = await report(intake, "mSv")

    assert refusal is not None
    assert (refusal.status, refusal.locations) == (status, [location])
    assert "rt_delivered_dose_gy" in refusal.text and GY_UNITS in refusal.text
    assert await _stored(intake) == (0, 0)

    assert await report(intake, unit) is None
    assert await _stored(intake) == (1, 1)

    # A correction in the unit of another quantity is refused too, and the incident stays as it was.
    correction = await correct(intake, "Sv")
    assert correction is not None
    assert (correction.status, correction.locations) == (status, [location])
    assert "rt_delivered_dose_gy" in correction.text and GY_UNITS in correction.text
    assert await _stored(intake) == (1, 1)

    records = await read_topic(
        infra.kafka_bootstrap,
        intake.settings.kafka.topics.classifications,
        until=lambda r: len(envelopes(r)) >= 1,
        timeout=60,
    )
    (classified,) = envelopes(records)
    decision = classified.payload["decision"]
    assert classified.event_type == "IncidentClassified"
    assert str(classified.stream_id) == await _only_incident(intake)
    # CQC code 8.1 (line 182): 66 Gy delivered of 60 Gy prescribed to the PTV is 1.1x the course dose;
    # E, as an equipment fault was the cause (line 285).
    assert decision["codes"] == ["E8.1"]
    (reason,) = [r for r in decision["reasons"] if r["code"] == "8.1"]
    assert reason["outcome"] == "met"
    assert (reason["facts"]["rt_delivered_dose_gy"], reason["facts"]["rt_prescribed_dose_gy"]) == (66.0, 60.0)
    assert reason["facts"]["rt_max_fraction_delivered_dose_gy"] == 2.2
