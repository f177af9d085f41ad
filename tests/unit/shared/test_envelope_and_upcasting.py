"""The envelope round-trips, and an old event version is read as the current one."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import Event, EventRegistry, UndecodableEventError, UnknownEventError
from tests.support.events import logged_envelope

NOW = dt.datetime(2025, 5, 1, 9, 30, tzinfo=dt.UTC)


class DoseRecordedV1(Event):
    event_type: ClassVar[str] = "DoseRecorded"
    schema_version: ClassVar[int] = 1
    dose_usv: float  # v1 recorded microsieverts


class DoseRecordedV2(Event):
    event_type: ClassVar[str] = "DoseRecorded"
    schema_version: ClassVar[int] = 2
    effective_dose_msv: float  # v2: millisieverts, as the guidance's criteria are written
    estimated: bool


def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {"effective_dose_msv": payload["dose_usv"] / 1000, "estimated": False}


envelope = partial(logged_envelope, at=NOW, producer="test")


@pytest.fixture
def registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(DoseRecordedV1)
    registry.register(DoseRecordedV2)
    registry.register_upcaster("DoseRecorded", 1, _v1_to_v2)
    return registry


def test_a_v1_event_in_the_log_is_read_as_v2(registry: EventRegistry) -> None:
    old = envelope("DoseRecorded", 1, {"dose_usv": 2500.0})
    event = registry.decode(old)
    assert event == DoseRecordedV2(effective_dose_msv=2.5, estimated=False)


def test_the_current_version_decodes_without_upcasting(registry: EventRegistry) -> None:
    event = registry.decode(envelope("DoseRecorded", 2, {"effective_dose_msv": 1.0, "estimated": True}))
    assert event == DoseRecordedV2(effective_dose_msv=1.0, estimated=True)


@pytest.mark.parametrize(
    ("event_type", "version", "error"),
    [
        pytest.param("DoseRecorded", 3, UnknownEventError, id="newer-version-than-known"),
        pytest.param("PatientTeleported", 1, UnknownEventError, id="unknown-type"),
    ],
)
def test_unknown_types_and_versions_are_refused(
    registry: EventRegistry, event_type: str, version: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        registry.decode(envelope(event_type, version, {}))


def test_a_payload_of_the_wrong_shape_is_undecodable(registry: EventRegistry) -> None:
    with pytest.raises(UndecodableEventError):
        registry.decode(envelope("DoseRecorded", 2, {"effective_dose_msv": "lots"}))


def test_a_missing_upcaster_is_an_unknown_event() -> None:
    registry = EventRegistry()
    registry.register(DoseRecordedV1)
    registry.register(DoseRecordedV2)
    with pytest.raises(UnknownEventError, match="no upcaster"):
        registry.decode(envelope("DoseRecorded", 1, {"dose_usv": 1.0}))


def test_envelope_round_trips_through_json_bytes() -> None:
    original = envelope("DoseRecorded", 2, {"effective_dose_msv": 1.0, "estimated": True})
    assert EventEnvelope.from_json_bytes(original.to_json_bytes()) == original
    assert original.key == str(original.stream_id).encode()


def test_envelope_is_immutable_and_rejects_naive_times() -> None:
    original = envelope("DoseRecorded", 2, {})
    with pytest.raises(ValidationError):
        original.event_type = "Other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        EventEnvelope.model_validate({**original.model_dump(), "recorded_at": dt.datetime(2025, 1, 1)})


def test_a_type_and_version_cannot_be_registered_twice(registry: EventRegistry) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(DoseRecordedV1)
