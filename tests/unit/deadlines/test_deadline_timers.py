"""Firing timers: never early, no stale bursts, nothing for a window that moved on.

Incident discovered 2025-03-16 (docs/deadlines.md): notification due 2025-03-30T23:00Z, that is
00:00 BST on 31 March, the night of the spring-forward change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from pydantic import TypeAdapter

from sievert_deadlines.domain import (
    DeadlinePolicy,
    Extension,
    Firing,
    IncidentDeadlines,
    PlannedTimer,
    TimerKind,
    TimerNotDueError,
    WindowState,
    WindowStatus,
    fire,
    on_classified,
    on_extended,
    on_submitted,
    overdue_instant,
    plan_timers,
)
from sievert_shared.events.deadlines import Window
from tests.unit.deadlines.deadline_support import INCIDENT, describe_all, london, utc

N, R = Window.NOTIFICATION, Window.INVESTIGATION_REPORT
N_DUE = utc("2025-03-30T23:00")
# The before-the-due reminders; the early "as soon as possible" one has its own table.
POLICY = DeadlinePolicy(asap_reminder_after_days=None)


def deadlines() -> IncidentDeadlines:
    decided = on_classified(
        None,
        incident_id=INCIDENT,
        notifiable=True,
        authority="CQC",
        discovered_on=dt.date(2025, 3, 16),
        policy=POLICY,
        now=london(2025, 3, 16, 12),
    ).deadlines
    assert decided is not None
    return decided


def window(which: Window) -> WindowState:
    state = deadlines().window(which)
    assert state is not None
    return state


def overdue(days: int) -> PlannedTimer:
    return PlannedTimer(
        INCIDENT, N, TimerKind.OVERDUE, overdue_instant(N_DUE, days), N_DUE, days_overdue=days
    )


def test_the_plan_is_the_reminders_then_the_due() -> None:
    planned = plan_timers(INCIDENT, window(N), POLICY)
    assert [(t.kind, t.days_before, t.fire_at) for t in planned] == [
        (TimerKind.REMINDER, 7, utc("2025-03-24T00:00")),
        (TimerKind.REMINDER, 3, utc("2025-03-28T00:00")),
        (TimerKind.REMINDER, 1, utc("2025-03-30T00:00")),
        (TimerKind.DUE, None, N_DUE),
    ]
    assert {t.due_at for t in planned} == {N_DUE}


def test_a_closed_window_plans_nothing() -> None:
    met = dataclasses.replace(window(N), status=WindowStatus.MET, met_at=london(2025, 3, 20))
    assert plan_timers(INCIDENT, met, POLICY) == ()


@pytest.mark.parametrize(
    "planned",
    [pytest.param(t, id=f"{t.kind}-{t.days_before}") for t in plan_timers(INCIDENT, window(N), POLICY)]
    + [pytest.param(overdue(1), id="overdue-1")],
)
def test_a_timer_never_fires_before_its_instant(planned: PlannedTimer) -> None:
    with pytest.raises(TimerNotDueError):
        fire(planned, deadlines(), POLICY, planned.fire_at - dt.timedelta(microseconds=1))
    fire(planned, deadlines(), POLICY, planned.fire_at)  # exactly at fire_at is fine


REMINDERS = {t.days_before: t for t in plan_timers(INCIDENT, window(N), POLICY)}
DUE = REMINDERS.pop(None)


@pytest.mark.parametrize(
    ("claimed", "now", "events", "next_fire"),
    [
        pytest.param(
            REMINDERS[7], utc("2025-03-24T00:00"), ["Approaching notification P7D"], None, id="P7D-on-time"
        ),
        # Stale rule: a reminder claimed after a later reminder's instant says nothing.
        pytest.param(REMINDERS[7], utc("2025-03-28T01:00"), [], None, id="P7D-claimed-after-P3D"),
        pytest.param(REMINDERS[1], utc("2025-03-31T00:00"), [], None, id="P1D-claimed-after-the-close"),
        # Due: Missed once, then the first overdue tick at the next London midnight.
        pytest.param(DUE, N_DUE, ["Missed notification"], utc("2025-03-31T23:00"), id="due-on-time"),
        # Claimed 3.5 days late (outage): Missed, then only today's count, not a burst of three.
        pytest.param(
            DUE,
            london(2025, 4, 3, 12),
            ["Missed notification", "Overdue notification 3"],
            utc("2025-04-03T23:00"),
            id="due-claimed-late",
        ),
        pytest.param(
            overdue(1),
            utc("2025-03-31T23:00"),
            ["Overdue notification 1"],
            utc("2025-04-01T23:00"),
            id="overdue-1",
        ),
        pytest.param(
            overdue(1),
            london(2025, 4, 4, 6),
            ["Overdue notification 4"],
            utc("2025-04-04T23:00"),
            id="overdue-claimed-late-jumps-to-today",
        ),
    ],
)
def test_firing(
    claimed: PlannedTimer, now: dt.datetime, events: list[str], next_fire: dt.datetime | None
) -> None:
    firing = fire(claimed, deadlines(), POLICY, now)

    assert describe_all(firing.events) == events
    assert (firing.next_timer.fire_at if firing.next_timer else None) == next_fire
    if firing.next_timer is not None:
        assert firing.next_timer.fire_at > now
        assert firing.next_timer.kind is TimerKind.OVERDUE


def test_overdue_ticks_follow_london_midnight_across_fall_back() -> None:
    # Due 00:00 BST on 26 October 2025; the first tick is 00:00 GMT on the 27th, 25 hours later.
    due_at = utc("2025-10-25T23:00")
    state = WindowState(N, WindowStatus.OPEN, dt.date(2025, 10, 11), due_at, "CQC")
    autumn = IncidentDeadlines(INCIDENT, True, "CQC", dt.date(2025, 10, 11), (state,))
    firing = fire(PlannedTimer(INCIDENT, N, TimerKind.DUE, due_at, due_at), autumn, POLICY, due_at)
    assert firing.next_timer is not None
    assert firing.next_timer.fire_at == utc("2025-10-27T00:00")
    assert firing.next_timer.fire_at - due_at == dt.timedelta(hours=25)


def test_a_met_window_fires_nothing() -> None:
    met = on_submitted(deadlines(), window=N, submitted_at=london(2025, 3, 20)).deadlines
    assert met is not None
    assert fire(DUE, met, POLICY, N_DUE) == Firing()


def test_a_cancelled_window_fires_nothing() -> None:
    local = on_classified(
        deadlines(),
        incident_id=INCIDENT,
        notifiable=False,
        authority=None,
        discovered_on=dt.date(2025, 3, 16),
        policy=POLICY,
        now=london(2025, 3, 20),
    ).deadlines
    assert local is not None
    assert fire(DUE, local, POLICY, N_DUE) == Firing()


def test_a_timer_from_before_an_extension_fires_nothing() -> None:
    report_due = plan_timers(INCIDENT, window(R), POLICY)[-1]
    extended = on_extended(
        deadlines(),
        window=R,
        extended_to=dt.date(2025, 7, 6),
        agreed_by="CQC inspector",
        reason="awaiting dosimetry",
        policy=POLICY,
        now=london(2025, 5, 1),
    ).deadlines
    assert extended is not None
    assert fire(report_due, extended, POLICY, report_due.fire_at) == Firing()


def test_a_timer_for_another_incident_is_refused() -> None:
    stranger = dataclasses.replace(DUE, incident_id=uuid.UUID(int=7))
    with pytest.raises(ValueError, match="fired against"):
        fire(stranger, deadlines(), POLICY, N_DUE)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        fire(DUE, deadlines(), POLICY, dt.datetime(2025, 4, 1))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"kind": TimerKind.REMINDER}, id="reminder-without-offset"),
        pytest.param({"kind": TimerKind.DUE, "days_before": 1}, id="due-with-offset"),
        pytest.param({"kind": TimerKind.OVERDUE}, id="overdue-without-day"),
        pytest.param({"kind": TimerKind.OVERDUE, "days_overdue": 0}, id="overdue-day-0"),
        pytest.param({"kind": TimerKind.DUE, "fire_at": dt.datetime(2025, 3, 31)}, id="naive-fire-at"),
    ],
)
def test_a_malformed_timer_is_refused(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {
        "incident_id": INCIDENT,
        "window": N,
        "fire_at": N_DUE,
        "due_at": N_DUE,
        **kwargs,
    }
    with pytest.raises(ValueError):
        PlannedTimer(**arguments)  # type: ignore[arg-type]


def test_a_met_window_needs_its_met_at() -> None:
    with pytest.raises(ValueError, match="met_at"):
        WindowState(N, WindowStatus.MET, dt.date(2025, 3, 16), N_DUE)


def test_state_and_timers_round_trip_through_json_for_storage() -> None:
    report = dataclasses.replace(
        window(R),
        due_at=utc("2025-07-06T23:00"),
        extensions=(
            Extension(utc("2025-06-08T23:00"), utc("2025-07-06T23:00"), "CQC inspector", "dosimetry"),
        ),
    )
    notified = dataclasses.replace(window(N), status=WindowStatus.MET, met_at=london(2025, 3, 20, 10))
    state = dataclasses.replace(deadlines(), windows=(notified, report))
    adapter = TypeAdapter(IncidentDeadlines)
    assert adapter.validate_json(adapter.dump_json(state)) == state

    timers = TypeAdapter(tuple[PlannedTimer, ...])
    planned = (*plan_timers(INCIDENT, report, POLICY), overdue(3))
    assert timers.validate_json(timers.dump_json(planned)) == planned
