"""The shared handler registration and the one mapping of application errors to problem details."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from sievert_shared.consumer import AfterBatch, BeforeBatch
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.errors import ConflictError, NotFoundError, ProblemError, UnprocessableError
from sievert_shared.events import DeadlineCountsChanged, Event, ThemeIndividualsCounted
from sievert_shared.handlers import EventHandlers
from sievert_shared.http import PROBLEM_JSON, problem_for
from tests.support.events import logged_envelope

AT = dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC)


def _counts() -> DeadlineCountsChanged:
    return DeadlineCountsChanged(trust="RXX", open=1, missed=0, met=0, due_within_7_days=0)


def _envelope(event: Event) -> EventEnvelope:
    return logged_envelope(event.event_type, event.schema_version, event.model_dump(mode="json"), at=AT)


async def test_a_registered_handler_receives_its_event_typed() -> None:
    seen: list[DeadlineCountsChanged] = []
    handlers = EventHandlers()

    async def on_counts(_conn: Connection, _env: EventEnvelope, event: DeadlineCountsChanged) -> None:
        seen.append(event)

    handlers.add(DeadlineCountsChanged, on_counts)
    event = _counts()
    await handlers["DeadlineCountsChanged"](None, _envelope(event), event)  # type: ignore[arg-type]
    assert seen == [event]
    assert list(handlers) == ["DeadlineCountsChanged"]


async def test_an_event_of_another_class_is_refused_not_handled() -> None:
    handlers = EventHandlers()
    calls: list[Any] = []

    @handlers.on(DeadlineCountsChanged)
    async def on_counts(_conn: Connection, _env: EventEnvelope, event: DeadlineCountsChanged) -> None:
        calls.append(event)

    wrong = ThemeIndividualsCounted(theme_id=uuid.uuid4(), individuals=2, incident_ids=[uuid.uuid4()])
    with pytest.raises(TypeError, match="DeadlineCountsChanged decoded as ThemeIndividualsCounted"):
        await handlers["DeadlineCountsChanged"](None, _envelope(wrong), wrong)  # type: ignore[arg-type]
    assert calls == []


def test_one_handler_per_event_type() -> None:
    handlers = EventHandlers()

    async def noop(_conn: Connection, _env: EventEnvelope, _event: DeadlineCountsChanged) -> None:
        return None

    handlers.add(DeadlineCountsChanged, noop)
    with pytest.raises(ValueError, match="registered already"):
        handlers.add(DeadlineCountsChanged, noop)


def test_extended_replaces_only_the_types_it_names() -> None:
    base = EventHandlers()
    extra = EventHandlers()

    async def bare(_conn: Connection, _env: EventEnvelope, _event: DeadlineCountsChanged) -> None:
        return None

    async def announced(_conn: Connection, _env: EventEnvelope, _event: ThemeIndividualsCounted) -> None:
        return None

    base.add(DeadlineCountsChanged, bare)
    extra.add(ThemeIndividualsCounted, announced)
    combined = base.extended(extra)
    assert sorted(combined) == ["DeadlineCountsChanged", "ThemeIndividualsCounted"]
    assert sorted(base) == ["DeadlineCountsChanged"]


async def _after(_conn: Connection, _applied: Sequence[EventEnvelope]) -> None:
    return None


async def _other_after(_conn: Connection, _applied: Sequence[EventEnvelope]) -> None:
    return None


@pytest.mark.parametrize(
    ("base_after", "extra_after", "expected"),
    [
        pytest.param(None, None, None, id="neither-has-one"),
        pytest.param(_after, None, _after, id="the-base-keeps-its-own"),
        pytest.param(None, _after, _after, id="the-extension-adds-one"),
        pytest.param(_after, _other_after, _other_after, id="the-extension-replaces-it"),
    ],
)
def test_extended_carries_the_after_batch_step(
    base_after: AfterBatch | None, extra_after: AfterBatch | None, expected: AfterBatch | None
) -> None:
    combined = EventHandlers(after_batch=base_after).extended(EventHandlers(after_batch=extra_after))
    assert combined.after_batch is expected


@pytest.mark.parametrize(
    ("base_before", "extra_before", "expected"),
    [
        pytest.param(None, None, None, id="neither"),
        pytest.param(_after, None, _after, id="the-base-step-is-kept"),
        pytest.param(None, _after, _after, id="the-extras-step-is-added"),
        pytest.param(_after, _other_after, _other_after, id="the-extras-step-wins"),
    ],
)
def test_extended_carries_the_before_batch_step(
    base_before: BeforeBatch | None, extra_before: BeforeBatch | None, expected: BeforeBatch | None
) -> None:
    combined = EventHandlers(before_batch=base_before).extended(EventHandlers(before_batch=extra_before))
    assert combined.before_batch is expected
    assert combined.after_batch is None


@pytest.mark.parametrize(
    ("error", "status", "title", "extra"),
    [
        pytest.param(NotFoundError("no incident 1"), 404, "Not found", {}, id="not-found"),
        pytest.param(
            ConflictError("version moved on", current_version=3),
            409,
            "Conflict",
            {"current_version": 3},
            id="conflict-with-current-version",
        ),
        pytest.param(
            UnprocessableError("1 field", errors=[{"path": "body/x", "message": "bad"}]),
            422,
            "Invalid request",
            {"errors": [{"path": "body/x", "message": "bad"}]},
            id="unprocessable-lists-fields",
        ),
    ],
)
def test_application_errors_map_to_problem_details(
    error: ProblemError, status: int, title: str, extra: dict[str, Any]
) -> None:
    response = problem_for(error)
    assert response.status_code == status
    assert response.media_type == PROBLEM_JSON
    body = json.loads(bytes(response.body))
    assert body == {"type": "about:blank", "title": title, "status": status, "detail": error.detail, **extra}
