"""HL7 v2 messages from many connections are committed in groups: each answer is still the one the
message would get on its own, and amendments of one incident apply in the order they were sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from tests.fixtures.intake_support import (
    MllpClient,
    RunningIntake,
    hl7_fixture,
    replace_segment_field,
    running_intake,
    with_control_id,
)
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

PEX = hl7_fixture("pex_p07_ct_overexposure.hl7")
ORU = hl7_fixture("oru_r01_dose_update.hl7")


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[RunningIntake]:
    async with running_intake(infra, topic_prefix, make_database) as running:
        yield running


def new_incident(n: int) -> bytes:
    """Another incident: its own control id and its own sender's reference (PES-5)."""
    return replace_segment_field(with_control_id(PEX, f"NEW{n:04d}"), "PES", 5, f"INC-GC-{n:04d}^DATIX")


def dose_amendment(n: int, total_msv: int) -> bytes:
    return replace_segment_field(with_control_id(ORU, f"AMD{n:04d}"), "OBX", 5, str(total_msv), 1)


async def pipelined(intake: RunningIntake, messages: list[bytes]) -> list[str]:
    """Send every message before reading any answer, as an integration engine does."""
    peer = await intake.mllp()
    try:
        for message in messages:
            await peer.send(message)
        return [(await peer.read_ack()).code for _ in messages]
    finally:
        await peer.close()


async def test_a_mixed_group_answers_each_message_as_if_alone(intake: RunningIntake) -> None:
    first = await MllpClient.connect(intake.mllp_port)
    try:
        assert (await first.request(new_incident(0))).code == "AA"
    finally:
        await first.close()
    resend = new_incident(0)
    conflicting = replace_segment_field(new_incident(0), "OBX", 5, "0.02", 2)
    invalid = replace_segment_field(new_incident(1), "OBX", 6, "furlongs^^UCUM", 1)

    answers = await asyncio.gather(
        pipelined(intake, [new_incident(n) for n in range(2, 12)]),
        pipelined(intake, [resend, conflicting, invalid]),
        pipelined(intake, [new_incident(n) for n in range(12, 22)]),
    )

    assert answers[0] == ["AA"] * 10 and answers[2] == ["AA"] * 10
    assert answers[1] == ["AA", "AE", "AE"]
    reported = "SELECT count(*) FROM events WHERE event_type = 'IncidentReported'"
    assert await intake.count(reported) == 21  # 0 and 2..21: the resend made none, the bad two made none


async def test_pipelined_amendments_apply_in_order_while_other_connections_send(
    intake: RunningIntake,
) -> None:
    first = await MllpClient.connect(intake.mllp_port)
    try:
        assert (await first.request(PEX)).code == "AA"
    finally:
        await first.close()
    doses = list(range(100, 120))

    amendments, *others = await asyncio.gather(
        pipelined(intake, [dose_amendment(i, dose) for i, dose in enumerate(doses)]),
        *(pipelined(intake, [new_incident(100 + 10 * c + n) for n in range(10)]) for c in range(3)),
    )

    assert amendments == ["AA"] * len(doses)
    assert all(codes == ["AA"] * 10 for codes in others)
    conn = await asyncpg.connect(intake.database_url)
    try:
        rows = await conn.fetch(
            """SELECT stream_version, envelope -> 'payload' -> 'facts' ->> 'total_effective_dose_msv' AS dose
               FROM events WHERE stream_id = (SELECT stream_id FROM events
                                              WHERE envelope -> 'payload' ->> 'source_message_id' = 'PEX0001')
               ORDER BY stream_version"""
        )
    finally:
        await conn.close()
    assert [r["stream_version"] for r in rows] == list(range(1, len(doses) + 2))
    assert [float(r["dose"]) for r in rows[1:]] == [float(d) for d in doses]
