"""Several employers in a replay: facts naming employers take the replay's fast decoding and give
what pydantic gives; employers that break the facts' rule are left to pydantic, which refuses them."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from sievert_reporting.adapters.replay_decode import FastDecoder
from sievert_reporting.domain.incident_row import incident_change
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import REGISTRY, IncidentReported, UndecodableEventError
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope

NOW = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)
FACTS: dict[str, Any] = {
    "nation": "england",
    "discovered_on": "2025-06-02",
    "exposure_kind": "unintended",
    "modality": "ct",
}
X = {"name": "Riverside NHS Trust", "trust_code": "RXX", "role": "referring", "notifies": False}
Y = {"name": "Hillside NHS Foundation Trust", "trust_code": "RYY", "role": "performing", "notifies": True}
FAST = FastDecoder.build()


def raw_with(employers: Any) -> bytes:
    valid = IncidentFacts.model_validate(FACTS)
    body = json.loads(
        build_envelope(
            IncidentReported(facts=valid, channel="json"),
            stream_id=uuid.uuid4(),
            stream_version=1,
            tenant=Tenant(trust="RXX", site="RXX01"),
            correlation_id="corr-employers",
            producer="intake",
            now=NOW,
        ).to_json_bytes()
    )
    body["payload"]["facts"]["employers"] = employers
    return json.dumps(body).encode()


def live(raw: bytes) -> Any:
    envelope = EventEnvelope.from_json_bytes(raw)
    return incident_change(envelope, REGISTRY.decode(envelope))


@pytest.mark.parametrize(
    "employers",
    [
        pytest.param(None, id="none-named"),
        pytest.param([X, Y], id="two-trusts-one-notifies"),
        pytest.param(
            [
                {"name": "Imaging Partners Ltd", "role": "performing", "notifies": True},
                {**X, "trust_code": "RXX"},
            ],
            id="an-employer-without-a-trust-code",
        ),
    ],
)
def test_several_employers_take_the_fast_path(employers: Any) -> None:
    raw = raw_with(employers)
    fast = FAST.decode(raw, "IncidentReported")
    assert fast is not None and fast == live(raw)


@pytest.mark.parametrize(
    "employers",
    [
        pytest.param([], id="empty"),
        pytest.param([X, {**Y, "notifies": False}], id="none-notifies"),
        pytest.param([{**X, "notifies": True}, Y], id="two-notify"),
        pytest.param([Y, {**Y, "name": "Another"}], id="a-trust-twice"),
        pytest.param([{**Y, "role": "treating"}], id="unknown-role"),
    ],
)
def test_several_employers_breaking_the_rule_are_left_to_pydantic(employers: Any) -> None:
    raw = raw_with(employers)
    assert FAST.decode(raw, "IncidentReported") is None
    with pytest.raises((ValidationError, UndecodableEventError)):
        live(raw)
