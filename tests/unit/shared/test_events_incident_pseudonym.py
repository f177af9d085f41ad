"""IncidentReported and IncidentFactsAmended v2 carry the patient's pseudonym; v1 events already
in the log are read as v2 with none, so every consumer and every replay keeps working."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest

from sievert_shared.events import (
    REGISTRY,
    IncidentFactsAmended,
    IncidentReported,
    UndecodableEventError,
    UnknownEventError,
)
from tests.support.events import logged_envelope

NOW = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)
FACTS = {
    "nation": "england",
    "discovered_on": "2025-06-02",
    "exposure_kind": "unintended",
    "modality": "ct",
    "intended_effective_dose_msv": 1.0,
    "total_effective_dose_msv": 12.0,
}
PSEUDONYM = "pt-0123456789abcdef01234567"


envelope = partial(logged_envelope, at=NOW, producer="intake")


V1_REPORTED = {"facts": FACTS, "channel": "hl7v2", "source_message_id": "MSG-1"}
V1_AMENDED = {"facts": FACTS, "changed_fields": ["modality"], "reason": "typo", "channel": "json"}


def test_the_current_versions_are_4() -> None:
    # v3 (facts with more optional fields) followed v2, and v4 (the employers involved) v3; v1, v2
    # and v3 are upcast to it.
    assert REGISTRY.latest_version("IncidentReported") == IncidentReported.schema_version == 4
    assert REGISTRY.latest_version("IncidentFactsAmended") == IncidentFactsAmended.schema_version == 4


@pytest.mark.parametrize(
    ("event_type", "payload", "model"),
    [
        pytest.param("IncidentReported", V1_REPORTED, IncidentReported, id="reported"),
        pytest.param("IncidentFactsAmended", V1_AMENDED, IncidentFactsAmended, id="amended"),
    ],
)
def test_a_v1_event_in_the_log_is_read_as_v2_without_a_pseudonym(
    event_type: str, payload: dict[str, Any], model: type[Any]
) -> None:
    old = envelope(event_type, 1, payload)
    event = REGISTRY.decode(old)
    assert isinstance(event, model)
    assert event.patient_pseudonym is None
    assert event.model_dump(mode="json", exclude={"patient_pseudonym"}) == {
        **payload,
        "facts": event.facts.model_dump(mode="json"),
    }
    assert old.payload == payload  # the stored event itself is never rewritten


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        pytest.param("IncidentReported", V1_REPORTED, id="reported"),
        pytest.param("IncidentFactsAmended", V1_AMENDED, id="amended"),
    ],
)
def test_a_v2_event_keeps_its_pseudonym(event_type: str, payload: dict[str, Any]) -> None:
    event = REGISTRY.decode(envelope(event_type, 2, {**payload, "patient_pseudonym": PSEUDONYM}))
    assert event.patient_pseudonym == PSEUDONYM  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("9434765919", id="an-nhs-number"),
        pytest.param("pt-XYZ", id="not-hex"),
        pytest.param("Zebedee-Quixote", id="a-name"),
    ],
)
def test_only_a_pseudonym_fits_the_field(value: str) -> None:
    with pytest.raises(UndecodableEventError):
        REGISTRY.decode(envelope("IncidentReported", 2, {**V1_REPORTED, "patient_pseudonym": value}))


def test_a_version_after_4_is_unknown() -> None:
    with pytest.raises(UnknownEventError):
        REGISTRY.decode(envelope("IncidentReported", 5, V1_REPORTED))
