"""The replay's fast decoding gives what pydantic gives, or leaves the event to pydantic.

The invariant: whenever ``FastDecoder.decode`` accepts bytes, the live path (the envelope's
``model_validate_json``, then ``REGISTRY.decode``) accepts them too, and the projection's values
are equal. Valid events of every hot type must take the fast path; every field of each, mutated
to awkward values, must either still agree or fall back.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from pydantic import Field, ValidationError, field_validator

from sievert_classifier.domain import classify
from sievert_reporting.adapters.replay_decode import FastDecoder
from sievert_reporting.adapters.replay_store import Fold
from sievert_reporting.domain.incident_row import INCIDENT_ROW_EVENTS as HOT_EVENTS
from sievert_reporting.domain.incident_row import IncidentChange as Hot
from sievert_reporting.domain.incident_row import incident_change as hot_from_models
from sievert_reporting.entrypoints.replay import _Reader
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import (
    REGISTRY,
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineMissed,
    DeadlineScheduled,
    Event,
    EventRegistry,
    IncidentClassified,
    IncidentFactsAmended,
    IncidentReclassified,
    IncidentReported,
    ThemeOpened,
    Window,
)
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope

NOW = dt.datetime(2025, 6, 2, 9, 30, 15, 250000, tzinfo=dt.UTC)
FULL_FACTS = IncidentFacts.model_validate(
    {
        "nation": "wales",
        "discovered_on": "2025-06-02",
        "occurred_on": "2025-05-30",
        "exposure_kind": "unintended",
        "modality": "ct",
        "patient_age_years": 54,
        "individuals_affected": 2,
        "patient_pregnant": False,
        "intended_effective_dose_msv": 1.0,
        "total_effective_dose_msv": 12.5,
        "equipment_fault": True,
        "equipment_type": "fixed",
    }
)
# the four required facts only: every optional one absent from the JSON, not null
BARE_FACTS = IncidentFacts(
    nation="england", discovered_on=dt.date(2025, 6, 2), exposure_kind="near_miss", modality="dental"
)
DUE = dt.datetime(2025, 6, 16, 9, 0, tzinfo=dt.UTC)


def _events() -> list[Event]:
    decision = classify(FULL_FACTS)
    return [
        IncidentReported(facts=FULL_FACTS, channel="hl7v2", source_message_id="MSG-1"),
        IncidentReported(facts=BARE_FACTS, channel="json"),
        IncidentFactsAmended(facts=FULL_FACTS, changed_fields=["modality"], reason="typo", channel="json"),
        IncidentClassified(decision=decision, discovered_on=FULL_FACTS.discovered_on, facts_version=1),
        IncidentClassified(
            decision=classify(BARE_FACTS), discovered_on=BARE_FACTS.discovered_on, facts_version=3
        ),
        IncidentReclassified(
            decision=decision,
            discovered_on=FULL_FACTS.discovered_on,
            facts_version=2,
            previous_notifiable=False,
            previous_codes=[],
            previous_discovered_on=FULL_FACTS.discovered_on,
            changes=["codes: [] -> [2.2]"],
        ),
        DeadlineScheduled(
            window=Window.NOTIFICATION, due_at=DUE, discovered_on=dt.date(2025, 6, 2), authority="hiw"
        ),
        DeadlineScheduled(window=Window.LOCAL_INVESTIGATION, due_at=DUE, discovered_on=dt.date(2025, 6, 2)),
        DeadlineMet(window=Window.NOTIFICATION, due_at=DUE, met_at=NOW, late=False),
        DeadlineMissed(window=Window.INVESTIGATION_REPORT, due_at=DUE),
        DeadlineExtended(
            window=Window.INVESTIGATION_REPORT,
            due_at=DUE,
            previous_due_at=NOW,
            agreed_by="HIW",
            reason="more time",
        ),
        DeadlineCancelled(window=Window.NOTIFICATION, due_at=DUE, reason="reclassified"),
    ]


def _raw(event: Event, **envelope: Any) -> bytes:
    built = build_envelope(
        event,
        stream_id=uuid.uuid4(),
        stream_version=envelope.pop("stream_version", 2),
        tenant=Tenant(trust="RXX", site="RXX01"),
        correlation_id="corr-1",
        producer="test",
        now=NOW,
        causation_id=uuid.uuid4(),
        actor="engine-1",
    )
    return built.to_json_bytes()


def _live(raw: bytes) -> Hot:
    """What the live consumer's decoding makes of ``raw``, as the fold's record."""
    envelope = EventEnvelope.from_json_bytes(raw)
    return hot_from_models(envelope, REGISTRY.decode(envelope))


FAST = FastDecoder.build()
SAMPLES = [pytest.param(_raw(e), id=f"{e.event_type}-{i}") for i, e in enumerate(_events())]


def test_every_hot_event_type_has_a_fast_path() -> None:
    assert set(FAST.types) == HOT_EVENTS == {e.event_type for e in _events()}


@pytest.mark.parametrize("raw", SAMPLES)
def test_a_valid_event_takes_the_fast_path_and_gives_what_pydantic_gives(raw: bytes) -> None:
    fast = FAST.decode(raw, json.loads(raw)["event_type"])
    assert fast is not None
    assert fast == _live(raw)


def test_optional_facts_absent_from_the_json_give_the_same_facts_as_pydantic() -> None:
    body = json.loads(_raw(IncidentReported(facts=BARE_FACTS, channel="json")))
    body["payload"]["facts"] = {k: v for k, v in body["payload"]["facts"].items() if v is not None}
    del body["payload"]["source_message_id"], body["causation_id"], body["actor"]
    raw = json.dumps(body).encode()
    fast = FAST.decode(raw, "IncidentReported")
    assert fast is not None and fast == _live(raw)
    assert json.loads(fast.part.json) == BARE_FACTS.model_dump(mode="json", exclude_none=True)  # type: ignore[union-attr]


# Values chosen to sit on the edges where msgspec and pydantic read JSON differently: strings
# for numbers, floats for ints, a newline after a pattern, timestamps with nanoseconds or
# without an offset, numbers out of range, wrong containers, too long text.
AWKWARD: list[Any] = [
    None,
    "",
    "x",
    "RXX\n",
    -1,
    0,
    1,
    2.5,
    1e300,
    True,
    "1",
    "true",
    "2025-06-02",
    "2025-06-31",
    "2025-06-02T09:00:00Z",
    "2025-06-02T09:00:00",
    "2025-06-02T09:00:00.1234567Z",
    "2025-06-02 09:00:00+01:00",
    "2025-13-02T09:00:00Z",
    str(uuid.uuid4()),
    uuid.uuid4().hex,
    [],
    ["x"],
    [1],
    {},
    "é" * 129,
    "a" * 64,
    151,
    "cqc",
    "notification",
    "england",
    "pt-0123456789abcdef01234567",
]
_DELETE = object()


def _mutations(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Copies of ``body`` with one field (of the envelope, the payload, or one level inside the
    payload: facts, decision, a reason) replaced, deleted, or joined by an unknown one."""

    def places(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        yield path, node
        for key, value in node.items():
            if isinstance(value, dict) and path.count(".") < 3:
                yield from places(value, f"{path}.{key}")
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                yield from places(value[0], f"{path}.{key}[0]")

    for path, _ in list(places(body, "$")):
        for key in list(_at(body, path)):
            for value in [*AWKWARD, _DELETE]:
                copy = json.loads(json.dumps(body))
                target = _at(copy, path)
                if value is _DELETE:
                    del target[key]
                else:
                    target[key] = value
                yield f"{path}.{key}={value if value is not _DELETE else '<deleted>'}", copy
        copy = json.loads(json.dumps(body))
        _at(copy, path)["unknown_field"] = 1
        yield f"{path}+unknown_field", copy


def _at(body: dict[str, Any], path: str) -> dict[str, Any]:
    node: Any = body
    for part in path.split(".")[1:]:
        node = node[part[:-3]][0] if part.endswith("[0]") else node[part]
    assert isinstance(node, dict)
    return node


@pytest.mark.parametrize("raw", SAMPLES)
def test_whatever_the_fast_path_accepts_pydantic_accepts_with_the_same_values(raw: bytes) -> None:
    accepted = fell_back = 0
    for name, body in _mutations(json.loads(raw)):
        mutated = json.dumps(body).encode()
        fast = FAST.decode(mutated, json.loads(raw)["event_type"])
        if fast is None:
            fell_back += 1
            continue
        accepted += 1
        try:
            live = _live(mutated)
        except (ValidationError, ValueError, LookupError) as exc:
            pytest.fail(f"{name}: the fast path accepted what pydantic rejects: {exc}")
        assert fast == live, name
    # both sides of the rule were exercised: the test is not vacuous
    assert accepted > 0 and fell_back > 0


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"recorded_at": "2025-06-02T09:30:15.2500009Z"}, id="nanoseconds-pydantic-truncates"),
        pytest.param({"occurred_at": "2025-06-02T09:30Z"}, id="no-seconds"),
        pytest.param({"stream_version": "2"}, id="number-as-text"),
        pytest.param({"event_id": "{" + str(uuid.uuid4()) + "}"}, id="uuid-in-braces"),
    ],
)
def test_a_form_only_pydantic_reads_goes_to_pydantic(change: dict[str, Any]) -> None:
    body = json.loads(_raw(_events()[6]))
    body.update(change)
    raw = json.dumps(body).encode()
    assert FAST.decode(raw, "DeadlineScheduled") is None
    _live(raw)  # and pydantic reads it


def test_the_header_only_picks_the_decoder_the_envelope_must_agree() -> None:
    raw = _raw(_events()[6])  # a DeadlineScheduled
    assert FAST.decode(raw, "DeadlineMet") is None
    assert FAST.decode(raw, None) is None
    assert FAST.decode(raw, "ThemeOpened") is None


# -- versions: the fast path reads only the latest, the registry upcasts the rest -------------------


class _ScheduledNext(DeadlineScheduled):
    """A made-up next version, so the current one in the log needs an upcaster whatever the real
    models are."""

    schema_version: ClassVar[int] = DeadlineScheduled.schema_version + 1

    note: str | None = Field(default=None, max_length=20)


CURRENT = DeadlineScheduled.schema_version


def _registry_with_next() -> EventRegistry:
    registry = EventRegistry()
    for model in REGISTRY.models():
        registry.register(model)
    registry.register(_ScheduledNext)
    registry.register_upcaster("DeadlineScheduled", CURRENT, lambda p: {**p, "note": None})
    return registry


def test_an_older_version_falls_back_to_the_registry_which_upcasts_it() -> None:
    registry = _registry_with_next()
    fast = FastDecoder.build(registry)
    assert fast.types["DeadlineScheduled"][1] == CURRENT + 1
    older = _raw(_events()[6])
    assert json.loads(older)["schema_version"] == CURRENT
    assert fast.decode(older, "DeadlineScheduled") is None
    envelope = EventEnvelope.from_json_bytes(older)
    assert isinstance(registry.decode(envelope), _ScheduledNext)
    body = json.loads(older)
    body["schema_version"], body["payload"]["note"] = CURRENT + 1, "agreed"
    newer = json.dumps(body).encode()
    decoded = fast.decode(newer, "DeadlineScheduled")
    assert decoded is not None and decoded == hot_from_models(*_pair(registry, newer))


def test_the_current_registrys_older_versions_fall_back() -> None:
    for event_type in sorted(HOT_EVENTS):
        latest = REGISTRY.latest_version(event_type)
        for version in range(1, latest):
            body = json.loads(next(_raw(e) for e in _events() if e.event_type == event_type))
            body["schema_version"] = version
            assert FAST.decode(json.dumps(body).encode(), event_type) is None, (event_type, version)


def _pair(registry: EventRegistry, raw: bytes) -> tuple[EventEnvelope, Event]:
    envelope = EventEnvelope.from_json_bytes(raw)
    return envelope, registry.decode(envelope)


class _Checked(_ScheduledNext):
    schema_version: ClassVar[int] = CURRENT + 2

    @field_validator("note")
    @classmethod
    def _no_shouting(cls, value: str | None) -> str | None:
        if value is not None and value.isupper():
            raise ValueError("no shouting")
        return value


def test_a_model_with_a_validator_the_mirror_does_not_know_is_left_to_pydantic() -> None:
    registry = _registry_with_next()
    registry.register(_Checked)
    fast = FastDecoder.build(registry)
    assert "DeadlineScheduled" not in fast.types
    assert "DeadlineMet" in fast.types


# -- the reader: what is skipped, what is applied once ----------------------------------------------


def _record(raw: bytes, offset: int, event_type: str | None) -> ConsumerRecord[bytes, bytes]:
    headers = [("event_type", event_type.encode())] if event_type else []
    return ConsumerRecord(
        topic="t", partition=0, offset=offset, timestamp=0, timestamp_type=0, key=None, value=raw,
        checksum=None, serialized_key_size=0, serialized_value_size=len(raw), headers=headers,
    )  # fmt: skip


def test_the_reader_skips_what_the_live_consumer_dead_letters_and_applies_each_event_once() -> None:
    tp = TopicPartition("t", 0)
    good = _raw(_events()[0])
    bad_dose = json.loads(good)
    bad_dose["payload"]["facts"]["total_effective_dose_msv"] = -1.0
    unknown = json.loads(good)
    unknown["event_type"] = "IncidentTeleported"
    newer = json.loads(good)
    newer["schema_version"] = 99
    theme = build_envelope(
        ThemeOpened(theme_id=uuid.uuid4(), title="Mobile X-ray", description="d", opened_by_role="RPA"),
        stream_id=uuid.uuid4(), stream_version=1, tenant=Tenant(trust="RXX", site="RXX01"),
        correlation_id="c", producer="reporting", now=NOW,
    )  # fmt: skip
    nanos = json.loads(_raw(_events()[6]))
    nanos["recorded_at"] = "2025-06-02T09:30:15.2500009Z"
    records = [
        (b"not json", "IncidentReported"),
        (json.dumps(bad_dose).encode(), "IncidentReported"),
        (json.dumps(unknown).encode(), "IncidentTeleported"),
        (json.dumps(newer).encode(), "IncidentReported"),
        (good, "IncidentReported"),
        (good, "IncidentReported"),  # a repeat of the same event id
        (theme.to_json_bytes(), "ThemeOpened"),
        (json.dumps(nanos).encode(), None),  # no header, and a timestamp only pydantic reads
    ]
    fold = Fold("reporting.test")
    reader = _Reader(FAST, fold)
    others = reader.read([(tp, _record(raw, i, h)) for i, (raw, h) in enumerate(records)])
    assert [o[2].event_type for o in others] == ["ThemeOpened"]
    assert [p[4] for p in fold.processed] == [4, 7]  # offsets of the events folded
    nanos_hot = _live(json.dumps(nanos).encode())
    assert nanos_hot.recorded_at.microsecond == 250000
    assert {row.incident_id for row in fold.rows.values()} == {
        uuid.UUID(json.loads(good)["stream_id"]),
        nanos_hot.stream_id,
    }
