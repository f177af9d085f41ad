"""HL7 v2 over a real MLLP TCP connection to the running listener, against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.intake_support import (
    FS_CR,
    VT,
    MllpClient,
    RunningIntake,
    fhir_fixture,
    hl7_fixture,
    replace_segment_field,
    running_intake,
    with_control_id,
)
from tests.support.infra import Infra
from tests.support.kafka import envelopes, read_topic
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

PEX = hl7_fixture("pex_p07_ct_overexposure.hl7")


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[RunningIntake]:
    async with running_intake(
        infra, topic_prefix, make_database, mllp_max_message_bytes=64 * 1024
    ) as running:
        yield running


@pytest.fixture
async def peer(intake: RunningIntake) -> AsyncIterator[MllpClient]:
    client = await intake.mllp()
    try:
        yield client
    finally:
        await client.close()


async def incidents(intake: RunningIntake) -> int:
    return await intake.count("SELECT count(*) FROM events WHERE event_type = 'IncidentReported'")


async def test_pex_p07_is_stored_then_acknowledged_and_published(
    intake: RunningIntake, peer: MllpClient, infra: Infra
) -> None:
    ack = await peer.request(PEX)

    assert (ack.code, ack.control_id) == ("AA", "PEX0001")
    assert await incidents(intake) == 1  # stored before the ACK came back
    records = await read_topic(
        infra.kafka_bootstrap, intake.settings.kafka.topics.incidents, until=lambda r: len(r) >= 1
    )
    (event,) = envelopes(records)
    assert event.payload["channel"] == "hl7v2"
    assert event.payload["source_message_id"] == "PEX0001"
    assert (event.tenant.trust, event.tenant.site) == ("RXX", "RXX01")
    assert event.payload["facts"]["patient_age_years"] == 54
    assert b"9434765919" not in records[0].value and b"SMITH" not in records[0].value


async def test_oru_r01_referring_to_a_known_incident_amends_it(
    intake: RunningIntake, peer: MllpClient
) -> None:
    assert (await peer.request(PEX)).code == "AA"
    ack = await peer.request(hl7_fixture("oru_r01_dose_update.hl7"))

    assert ack.code == "AA"
    assert await incidents(intake) == 1
    assert await intake.count("SELECT count(*) FROM events WHERE event_type = 'IncidentFactsAmended'") == 1
    incident = await intake.count("SELECT 1")  # connection sanity
    assert incident == 1
    listing = await intake.http.get("/fhir/AdverseEvent/" + await _only_incident(intake))
    codes = {c["id"]: c for c in listing.json()["contained"] if c["resourceType"] == "Observation"}
    assert codes["total-effective-dose"]["valueQuantity"]["value"] == 30.0
    assert codes["foetal-dose"]["valueQuantity"]["value"] == 5.0  # 0.5 cGy
    assert codes["patient-pregnant"]["valueBoolean"] is True


async def _only_incident(intake: RunningIntake) -> str:
    import asyncpg

    conn = await asyncpg.connect(intake.database_url)
    try:
        return str(await conn.fetchval("SELECT DISTINCT stream_id FROM events"))
    finally:
        await conn.close()


async def test_a_resent_message_does_not_create_a_second_incident(
    intake: RunningIntake, peer: MllpClient
) -> None:
    first = await peer.request(PEX)
    again = await peer.request(PEX)
    other = await intake.mllp()
    try:
        on_another_connection = await other.request(PEX)
    finally:
        await other.close()

    assert first.code == again.code == on_another_connection.code == "AA"
    assert await incidents(intake) == 1


async def test_the_same_control_id_with_other_content_is_an_error(
    intake: RunningIntake, peer: MllpClient
) -> None:
    assert (await peer.request(PEX)).code == "AA"
    changed = replace_segment_field(PEX, "OBX", 5, "0.02", 2)

    ack = await peer.request(changed)

    assert ack.code == "AE"
    assert ack.error_locations() == ["MSH-10"]
    assert ack.error_codes() == ["205"]
    assert await incidents(intake) == 1


@pytest.mark.parametrize(
    ("message", "code", "location", "err_code"),
    [
        pytest.param(b"PID|1||9434765919\r", "AR", "MSH-1", "100", id="missing-MSH"),
        pytest.param(
            PEX.replace(b"MSH|^~\\&|", b"MSH|^~|", 1), "AR", "MSH-2", "102", id="wrong-encoding-characters"
        ),
        pytest.param(
            PEX.replace(b"PEX^P07^PEX_P07", b"SIU^S12"), "AR", "MSH-9", "200", id="unknown-message-type"
        ),
        pytest.param(
            replace_segment_field(PEX, "OBX", 5, "1,2", 2), "AE", "OBX-5", "102", id="field-of-wrong-type"
        ),
        pytest.param(
            replace_segment_field(PEX, "OBX", 6, "Gy", 1), "AE", "OBX-6", "103", id="unit-cannot-be-converted"
        ),
        pytest.param(
            replace_segment_field(PEX, "PES", 9, ""), "AE", "PES-9", "101", id="discovery-date-missing"
        ),
    ],
)
async def test_bad_input_gets_a_precise_answer_and_stores_nothing(
    intake: RunningIntake, peer: MllpClient, message: bytes, code: str, location: str, err_code: str
) -> None:
    ack = await peer.request(message)

    assert ack.code == code
    assert ack.error_locations() == [location]
    assert ack.error_codes() == [err_code]
    assert await incidents(intake) == 0
    assert (await peer.request(PEX)).code == "AA"  # the connection is still good


async def test_a_huge_message_is_refused_without_buffering_it(
    intake: RunningIntake, peer: MllpClient
) -> None:
    huge = PEX + b"NTE|1||" + b"x" * (200 * 1024) + b"\r"

    ack = await peer.request(with_control_id(huge, "HUGE1"))

    assert (ack.code, ack.control_id) == ("AR", "HUGE1")  # the MSH was read from the frame's head
    assert "larger than 65536 bytes" in ack.errors()[0][8]
    assert (await peer.request(PEX)).code == "AA"


async def test_a_truncated_frame_is_refused_and_the_next_one_served(
    intake: RunningIntake, peer: MllpClient
) -> None:
    await peer.send_raw(VT + PEX[:80])  # the engine lost its place mid-message
    ack_for_truncated = await (lambda: peer.request(with_control_id(PEX, "AFTER1")))()
    # The truncated frame is answered first (AR), then the complete one (AA), in order.
    assert ack_for_truncated.code == "AR"
    assert "truncated frame" in ack_for_truncated.errors()[0][8]
    follow = await peer.read_ack()
    assert (follow.code, follow.control_id) == ("AA", "AFTER1")


async def test_a_connection_closed_mid_frame_loses_nothing_and_harms_nothing(intake: RunningIntake) -> None:
    quitter = await intake.mllp()
    await quitter.send_raw(VT + PEX[:100])
    await quitter.close()

    fresh = await intake.mllp()
    try:
        assert (await fresh.request(PEX)).code == "AA"
    finally:
        await fresh.close()
    assert await incidents(intake) == 1


async def test_pipelined_messages_are_acknowledged_in_order(intake: RunningIntake, peer: MllpClient) -> None:
    messages = [
        with_control_id(replace_segment_field(PEX, "PES", 5, f"INC-P{i}"), f"PIPE{i:03}") for i in range(25)
    ]
    await peer.send_raw(b"".join(VT + m + FS_CR for m in messages))  # all before reading any ACK

    acks = [await peer.read_ack() for _ in messages]

    assert [a.control_id for a in acks] == [f"PIPE{i:03}" for i in range(25)]
    assert {a.code for a in acks} == {"AA"}
    assert await incidents(intake) == 25


async def test_adt_is_acknowledged_and_nothing_is_stored(intake: RunningIntake, peer: MllpClient) -> None:
    ack = await peer.request(hl7_fixture("adt_a08_update.hl7"))
    assert ack.code == "AA"
    assert await intake.count("SELECT count(*) FROM events") == 0
    assert await intake.count("SELECT count(*) FROM outbox") == 0


async def test_json_hl7_and_fhir_produce_identical_incident_facts(
    intake: RunningIntake, peer: MllpClient, infra: Infra
) -> None:
    body = ct_overexposure()
    body["facts"]["patient_age_years"] = 54
    assert (await intake.http.post("/v1/incidents", json=body)).status_code == 202
    assert (await peer.request(PEX)).code == "AA"
    bundle = fhir_fixture("bundle_ct_overexposure.json")
    bundle["entry"][0]["resource"]["identifier"]["value"] = "INC-FHIR-1"  # another sender's reference
    assert (await intake.http.post("/fhir", json=bundle)).status_code == 200

    records = await read_topic(
        infra.kafka_bootstrap, intake.settings.kafka.topics.incidents, until=lambda r: len(r) >= 3
    )
    reported = {e.payload["channel"]: e.payload["facts"] for e in envelopes(records)}
    assert set(reported) == {"json", "hl7v2", "fhir"}
    assert reported["json"] == reported["hl7v2"] == reported["fhir"]


def _mutations() -> st.SearchStrategy[bytes]:
    samples = [
        hl7_fixture(n)
        for n in ("pex_p07_ct_overexposure.hl7", "oru_r01_dose_update.hl7", "adt_a08_update.hl7")
    ]

    def mutate(sample: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
        data = bytearray(sample)
        for position, delete, insert in edits:
            at = position % (len(data) + 1)
            data[at : at + delete] = insert
        return bytes(data)

    edit = st.tuples(st.integers(0, 4096), st.integers(0, 8), st.binary(max_size=8))
    mutated = st.builds(mutate, st.sampled_from(samples), st.lists(edit, min_size=1, max_size=6))
    framed = st.builds(lambda m: VT + m + FS_CR, mutated)
    return st.one_of(st.binary(max_size=2048), framed, st.builds(lambda m: VT + m, mutated))


async def _throw(port: int, payload: bytes) -> None:
    """Send ``payload`` and half-close, as a peer that gives up would; then every frame the listener
    sends back must be an ACK, and it must close the connection (EOF) when it has answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        answered = await reader.read()  # until the listener closes: bounded by the caller's timeout
        for frame in answered.split(FS_CR)[:-1]:
            assert frame.startswith(VT), frame[:40]
            assert b"\rMSA|A" in frame, frame[:200]
        assert answered.count(FS_CR) <= payload.count(FS_CR) + payload.count(VT)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def test_fuzz_the_listener_answers_or_closes_and_never_falls_over(intake: RunningIntake) -> None:
    port = intake.mllp_port
    loop = asyncio.get_running_loop()
    thrown: list[bytes] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(_mutations())
    def throw(payload: bytes) -> None:
        thrown.append(payload)

    throw()  # hypothesis draws the inputs; the event loop below sends them over TCP
    assert len(thrown) == 150
    for payload in thrown:
        await asyncio.wait_for(_throw(port, payload), timeout=20)  # bounded: never hangs
    _ = loop
    survivor = await intake.mllp()
    try:
        assert (await survivor.request(with_control_id(PEX, "SURVIVOR"))).code == "AA"
    finally:
        await survivor.close()
