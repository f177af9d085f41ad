"""Envelopes for many events of one request: ids drawn together, and each envelope after the
first copied from it with its own ids, instants and payload, equal to the one
``build_envelope`` would have validated."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

import pytest

from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event, IncidentReported
from sievert_shared.facts import IncidentFacts
from sievert_shared.ids import uuid4_batch
from sievert_shared.outbox import build_envelope, sibling_envelope
from tests.support.samples import ct_overexposure

NOW = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)
TENANT = Tenant(trust="RXX", site="RXX01")


class IncidentReportedV99(Event):
    event_type: ClassVar[str] = "IncidentReported"
    schema_version: ClassVar[int] = 99


def reported(source_message_id: str) -> IncidentReported:
    facts = IncidentFacts.model_validate(ct_overexposure()["facts"])
    return IncidentReported(facts=facts, channel="json", source_message_id=source_message_id)


def built(event: IncidentReported, now: dt.datetime = NOW) -> EventEnvelope:
    return build_envelope(
        event,
        stream_id=uuid.uuid4(),
        stream_version=1,
        tenant=TENANT,
        correlation_id="corr-1",
        producer="intake",
        now=now,
        actor="engine-1",
    )


def test_uuid4_batch_gives_distinct_version_4_rfc_ids() -> None:
    ids = uuid4_batch(2_000)

    assert len(ids) == len(set(ids)) == 2_000
    assert {u.version for u in ids} == {4}
    assert {u.variant for u in ids} == {uuid.RFC_4122}
    assert uuid4_batch(0) == []


def test_sibling_envelope_is_the_envelope_build_envelope_validates() -> None:
    template = built(reported("msg-1"))
    later = NOW + dt.timedelta(seconds=3)
    expected = built(reported("msg-2"), later)

    sibling = sibling_envelope(
        template, reported("msg-2"), event_id=expected.event_id, stream_id=expected.stream_id, now=later
    )

    assert sibling == expected
    assert sibling.model_dump_json() == expected.model_dump_json()
    assert EventEnvelope.model_validate_json(sibling.model_dump_json()) == sibling
    # the template is left as it was
    assert template.payload["source_message_id"] == "msg-1" and template.recorded_at == NOW


def test_sibling_envelope_refuses_another_event_version_and_a_naive_instant() -> None:
    template = built(reported("msg-1"))
    with pytest.raises(ValueError, match="IncidentReported v99"):
        sibling_envelope(
            template, IncidentReportedV99(), event_id=uuid.uuid4(), stream_id=uuid.uuid4(), now=NOW
        )
    with pytest.raises(ValueError, match="naive"):
        sibling_envelope(
            template,
            reported("msg-2"),
            event_id=uuid.uuid4(),
            stream_id=uuid.uuid4(),
            now=NOW.replace(tzinfo=None),
        )
