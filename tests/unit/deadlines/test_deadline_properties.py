"""Properties over any discovery date and any ``now``, and a fake-clock walk through 16 weeks.

* No event a timer produces exists before its instant (read off the event itself).
* The notification window always closes strictly before the report window.
* Walking a fake clock hour by hour from discovery, a window's events follow its story:
  Scheduled, reminders in order, Missed at most once, Overdue daily, nothing after Met.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sievert_deadlines.domain import (
    DEFAULT_POLICY,
    DeadlinePolicy,
    Decision,
    IncidentDeadlines,
    TimerNotDueError,
    days_overdue_at,
    due_instant,
    fire,
    on_classified,
    on_submitted,
    overdue_instant,
)
from sievert_deadlines.domain.state import WINDOW_EVENTS, WindowEvent
from sievert_shared.events.deadlines import (
    DeadlineApproaching,
    DeadlineMet,
    DeadlineMissed,
    DeadlineOverdue,
    DeadlineScheduled,
    Window,
)
from tests.support.clock import FakeClock
from tests.unit.deadlines.deadline_support import (
    INCIDENT,
    LONDON,
    FakeTimerStore,
    earliest_allowed,
    london,
)

N, R, L = Window.NOTIFICATION, Window.INVESTIGATION_REPORT, Window.LOCAL_INVESTIGATION
HOUR = dt.timedelta(hours=1)
SIXTEEN_WEEKS = dt.timedelta(weeks=16)

dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
policies = st.builds(
    DeadlinePolicy,
    local_investigation_days=st.integers(min_value=1, max_value=90),
    notification_reminders=st.lists(st.integers(1, 20), max_size=4).map(tuple),
    report_reminders=st.lists(st.integers(1, 90), max_size=5).map(tuple),
    local_investigation_reminders=st.lists(st.integers(1, 30), max_size=3).map(tuple),
    asap_reminder_after_days=st.none() | st.integers(1, 13),
)
offsets = st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=140))


def start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=LONDON)


def decide(
    deadlines: IncidentDeadlines | None,
    notifiable: bool,
    discovered_on: dt.date,
    policy: DeadlinePolicy,
    now: dt.datetime,
) -> Decision:
    decision = on_classified(
        deadlines,
        incident_id=INCIDENT,
        notifiable=notifiable,
        authority="CQC" if notifiable else None,
        discovered_on=discovered_on,
        policy=policy,
        now=now,
    )
    assert all(timer.fire_at > now for timer in decision.schedule_timers)
    return decision


@settings(max_examples=200, deadline=None)
@given(
    discovered_on=dates,
    first_notifiable=st.booleans(),
    first_at=offsets,
    second=st.none() | st.tuples(st.booleans(), st.integers(-20, 20), offsets),
    policy=policies,
    data=st.data(),
)
def test_no_event_exists_before_its_instant(
    discovered_on: dt.date,
    first_notifiable: bool,
    first_at: dt.timedelta,
    second: tuple[bool, int, dt.timedelta] | None,
    policy: DeadlinePolicy,
    data: st.DataObject,
) -> None:
    store = FakeTimerStore(policy)
    now = start_of(discovered_on) + first_at
    store.apply(decide(None, first_notifiable, discovered_on, policy, now), now)
    if second is not None:
        # A re-classification, possibly with an amended discovery date, any time later.
        notifiable, shift, later = second
        now += later
        store.apply(
            decide(store.deadlines, notifiable, discovered_on + dt.timedelta(days=shift), policy, now), now
        )
    for emitted_at, event in store.emitted:
        allowed = earliest_allowed(event)
        assert allowed is None or allowed <= emitted_at, event

    # Every stored timer refuses to fire early, and fired at or after fire_at (however late the
    # claim), produces only events whose instant has come.
    assert store.deadlines is not None
    for timer in store.timers:
        with pytest.raises(TimerNotDueError):
            fire(timer, store.deadlines, policy, timer.fire_at - dt.timedelta(microseconds=1))
        at = timer.fire_at + data.draw(offsets, label="claimed late by")
        firing = fire(timer, store.deadlines, policy, at)
        for event in firing.events:
            allowed = earliest_allowed(event)
            assert allowed is not None and allowed <= at, event
        if firing.next_timer is not None:
            assert firing.next_timer.fire_at > at


@given(discovered_on=dates, policy=policies)
def test_the_notification_closes_strictly_before_the_report(
    discovered_on: dt.date, policy: DeadlinePolicy
) -> None:
    decision = decide(None, True, discovered_on, policy, start_of(discovered_on))
    due = {event.window: event.due_at for event in decision.events if isinstance(event, DeadlineScheduled)}
    assert due[N] < due[R]
    assert due[N] == due_instant(discovered_on, N, policy)


def walk(
    discovered_on: dt.date,
    notifiable: bool,
    classified_at: dt.datetime,
    submissions: dict[Window, dt.datetime],
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> FakeTimerStore:
    """Step a fake clock hour by hour from classification to 16 weeks after discovery, firing
    whatever is due at each step, then applying the submissions made by then."""
    # The clock ticks in UTC: adding an hour to a Europe/London datetime is wall-clock
    # arithmetic, which would repeat an hour in spring and skip one in autumn.
    clock = FakeClock(classified_at.astimezone(dt.UTC))
    store = FakeTimerStore(policy)
    store.apply(
        on_classified(
            None,
            incident_id=INCIDENT,
            notifiable=notifiable,
            authority="CQC" if notifiable else None,
            discovered_on=discovered_on,
            policy=policy,
            now=clock.now(),
        ),
        clock.now(),
    )
    pending = dict(submissions)
    end = start_of(discovered_on).astimezone(dt.UTC) + SIXTEEN_WEEKS
    while True:
        now = clock.now()
        # At one instant, timers due then fire first, then the submissions made by then.
        for window, submitted_at in sorted(pending.items(), key=lambda item: item[1]):
            if submitted_at <= now:
                assert store.deadlines is not None
                store.apply(on_submitted(store.deadlines, window=window, submitted_at=submitted_at), now)
                del pending[window]
        if now >= end:
            return store
        store.claim_and_fire(clock.advance(HOUR))


def test_walk_through_a_notifiable_incident() -> None:
    # Discovered 16 March 2025 (spring-forward on the 30th). Notified late on 2 April, report on
    # time on 4 June.
    store = walk(
        dt.date(2025, 3, 16),
        True,
        london(2025, 3, 16, 9),
        {N: london(2025, 4, 2, 10), R: london(2025, 6, 4, 12)},
    )

    assert store.events() == [
        "Scheduled notification due 2025-03-30T23:00Z",
        "Scheduled investigation_report due 2025-06-08T23:00Z",
        "Approaching notification P2D early",
        "Approaching notification P7D",
        "Approaching notification P3D",
        "Approaching notification P1D",
        "Missed notification",
        "Overdue notification 1",
        "Overdue notification 2",
        "Met notification late",
        "Approaching investigation_report P28D",
        "Approaching investigation_report P14D",
        "Approaching investigation_report P7D",
        "Met investigation_report on time",
    ]
    # Each timer's event appeared at the first tick of the clock at or after its instant.
    for emitted_at, event in store.emitted:
        allowed = earliest_allowed(event)
        if allowed is not None:
            assert allowed <= emitted_at < allowed + HOUR
    assert store.timers == []


def test_walk_through_a_report_never_sent() -> None:
    store = walk(dt.date(2025, 3, 16), True, london(2025, 3, 16, 9), {N: london(2025, 3, 20, 15)})
    overdue = [e.days_overdue for _, e in store.emitted if isinstance(e, DeadlineOverdue)]
    # Report due 00:00 BST 9 June; the walk ends 16 weeks after 00:00 GMT 16 March, at 01:00 BST
    # on 6 July: 27 days overdue, the 28th tick pending.
    assert overdue == list(range(1, 28))
    assert [t.days_overdue for t in store.timers] == [28]


@settings(max_examples=40, deadline=None)
@given(
    discovered_on=dates,
    notifiable=st.booleans(),
    classified_after=st.integers(min_value=0, max_value=16 * 7 * 24 - 1),
    submitted_after=st.dictionaries(
        st.sampled_from(list(Window)), st.integers(min_value=0, max_value=16 * 7 * 24 + 48)
    ),
)
def test_walk_tells_each_window_story(
    discovered_on: dt.date,
    notifiable: bool,
    classified_after: int,
    submitted_after: dict[Window, int],
) -> None:
    start = start_of(discovered_on).astimezone(dt.UTC)
    classified_at = start + classified_after * HOUR
    submissions = {w: max(classified_at, start + hours * HOUR) for w, hours in submitted_after.items()}
    store = walk(discovered_on, notifiable, classified_at, submissions)
    end = start + SIXTEEN_WEEKS

    by_window: dict[Window, list[tuple[dt.datetime, WindowEvent]]] = defaultdict(list)
    for emitted_at, event in store.emitted:
        assert isinstance(event, WINDOW_EVENTS), event  # the walk never closes the case
        by_window[event.window].append((emitted_at, event))
        allowed = earliest_allowed(event)
        assert allowed is None or allowed <= emitted_at, event

    assert set(by_window) == ({N, R} if notifiable else {L})
    for events in by_window.values():
        kinds = [type(e).__name__ for _, e in events]
        assert kinds[0] == "DeadlineScheduled"
        due_at = events[0][1].due_at
        met_at = next((e.met_at for _, e in events if isinstance(e, DeadlineMet)), None)
        if met_at is not None:
            assert kinds[-1] == "DeadlineMet" and kinds.count("DeadlineMet") == 1  # nothing after Met
            assert events[-1][1].late is (met_at >= due_at)  # type: ignore[union-attr]

        reminders = [e for _, e in events if isinstance(e, DeadlineApproaching) and not e.early]
        early = [e for _, e in events if isinstance(e, DeadlineApproaching) and e.early]
        assert len(early) <= 1 and all(e.window is N for e in early)
        days = [int(e.reminder[1:-1]) for e in reminders]
        assert days == sorted(days, reverse=True) and len(days) == len(set(days))
        assert all(at < due_at for at, e in events if isinstance(e, DeadlineApproaching))

        missed = [at for at, e in events if isinstance(e, DeadlineMissed)]
        closed_unmet = end >= due_at and (met_at is None or met_at >= due_at)
        assert len(missed) == (1 if closed_unmet else 0)

        ticks = [(at, e.days_overdue) for at, e in events if isinstance(e, DeadlineOverdue)]
        if ticks:
            numbers = [n for _, n in ticks]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # daily, no gaps
            assert numbers[0] == max(1, days_overdue_at(due_at, classified_at))
            stopped = min(end, met_at) if met_at is not None else end
            assert numbers[-1] == days_overdue_at(due_at, stopped)
            for at, n in ticks[1:]:
                assert overdue_instant(due_at, n) <= at < overdue_instant(due_at, n) + HOUR
        # Liveness: with the clock ticking hourly, each timer speaks within the hour of its
        # instant, or at classification if that instant had already passed.
        for at, event in events:
            allowed = earliest_allowed(event)
            if allowed is not None:
                assert at < max(allowed, classified_at) + HOUR, event
