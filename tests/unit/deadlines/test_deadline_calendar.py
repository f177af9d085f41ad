"""When windows close, reminders and overdue ticks fire: calendar days in Europe/London.

Guidance: CQC "IR(ME)R notification guidance" (2023), "When to investigate and notify the
enforcing authority": notify "no later than 2 weeks after discovering the incident"; report "no
later than 12 weeks after the incident was discovered". Reading: docs/deadlines.md.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from sievert_deadlines.domain import (
    DEFAULT_POLICY,
    DeadlinePolicy,
    days_overdue_at,
    due_instant,
    end_of_day,
    last_day_in_time,
    overdue_instant,
    reminder_instant,
)
from sievert_shared.events.deadlines import Window
from tests.unit.deadlines.deadline_support import LONDON, london, utc

N, R, L = Window.NOTIFICATION, Window.INVESTIGATION_REPORT, Window.LOCAL_INVESTIGATION

dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


@pytest.mark.parametrize(
    ("discovered_on", "window", "policy", "due_utc"),
    [
        # 2 weeks: day 0 is discovery, day 14 is the last day in time, closed at 00:00 London on day 15.
        pytest.param(dt.date(2025, 1, 10), N, DEFAULT_POLICY, "2025-01-25T00:00", id="2w-winter-gmt"),
        pytest.param(dt.date(2025, 6, 1), N, DEFAULT_POLICY, "2025-06-15T23:00", id="2w-summer-bst"),
        # Spring forward on 2025-03-30: discovered in GMT, closes in BST, an hour earlier in UTC.
        pytest.param(
            dt.date(2025, 3, 16), N, DEFAULT_POLICY, "2025-03-30T23:00", id="2w-across-spring-forward"
        ),
        # Fall back on 2025-10-26: discovered in BST, closes in GMT.
        pytest.param(dt.date(2025, 10, 12), N, DEFAULT_POLICY, "2025-10-27T00:00", id="2w-across-fall-back"),
        # Last day in time is the change day itself: 2025-03-30 ends at 00:00 BST on the 31st.
        pytest.param(
            dt.date(2025, 3, 16), N, DEFAULT_POLICY, "2025-03-30T23:00", id="2w-last-day-is-dst-day"
        ),
        pytest.param(
            dt.date(2025, 3, 15), N, DEFAULT_POLICY, "2025-03-30T00:00", id="2w-closes-on-dst-morning"
        ),
        pytest.param(
            dt.date(2025, 3, 30), N, DEFAULT_POLICY, "2025-04-13T23:00", id="2w-discovered-on-dst-day"
        ),
        # Leap years: the calendar, not 14 x 24 h, counts the days.
        pytest.param(dt.date(2024, 2, 20), N, DEFAULT_POLICY, "2024-03-06T00:00", id="2w-over-29-feb"),
        pytest.param(dt.date(2025, 2, 20), N, DEFAULT_POLICY, "2025-03-07T00:00", id="2w-non-leap-feb"),
        pytest.param(dt.date(2024, 2, 29), N, DEFAULT_POLICY, "2024-03-15T00:00", id="2w-discovered-29-feb"),
        pytest.param(dt.date(2024, 2, 29), R, DEFAULT_POLICY, "2024-05-23T23:00", id="12w-discovered-29-feb"),
        # Year end.
        pytest.param(dt.date(2025, 12, 20), N, DEFAULT_POLICY, "2026-01-04T00:00", id="2w-over-new-year"),
        pytest.param(dt.date(2025, 12, 31), N, DEFAULT_POLICY, "2026-01-15T00:00", id="2w-discovered-31-dec"),
        pytest.param(dt.date(2025, 10, 10), R, DEFAULT_POLICY, "2026-01-03T00:00", id="12w-over-new-year"),
        # 12 weeks = 84 days.
        pytest.param(dt.date(2025, 3, 16), R, DEFAULT_POLICY, "2025-06-08T23:00", id="12w-summer"),
        pytest.param(
            dt.date(2025, 1, 6), R, DEFAULT_POLICY, "2025-03-31T23:00", id="12w-across-spring-forward"
        ),
        pytest.param(dt.date(2025, 8, 3), R, DEFAULT_POLICY, "2025-10-27T00:00", id="12w-across-fall-back"),
        # Regulation 8(3): the local investigation window is trust policy, 30 days by default.
        pytest.param(dt.date(2025, 3, 16), L, DEFAULT_POLICY, "2025-04-15T23:00", id="local-default-30d"),
        pytest.param(
            dt.date(2025, 3, 16),
            L,
            DeadlinePolicy(local_investigation_days=60),
            "2025-05-15T23:00",
            id="local-trust-60d",
        ),
    ],
)
def test_due_instant(discovered_on: dt.date, window: Window, policy: DeadlinePolicy, due_utc: str) -> None:
    assert due_instant(discovered_on, window, policy) == utc(due_utc)


@pytest.mark.parametrize(
    ("discovered_on", "elapsed"),
    [
        # From the start of the discovery day to the close: 15 calendar days.
        pytest.param(dt.date(2025, 3, 16), dt.timedelta(days=15, hours=-1), id="spring-forward-23h-day"),
        pytest.param(dt.date(2025, 10, 12), dt.timedelta(days=15, hours=1), id="fall-back-25h-day"),
        pytest.param(dt.date(2025, 1, 10), dt.timedelta(days=15), id="no-change"),
    ],
)
def test_a_window_across_a_clock_change_is_an_hour_shorter_or_longer(
    discovered_on: dt.date, elapsed: dt.timedelta
) -> None:
    start = dt.datetime.combine(discovered_on, dt.time(0), tzinfo=LONDON)
    assert due_instant(discovered_on, N, DEFAULT_POLICY) - start == elapsed


def test_spring_and_autumn_closes_differ_by_the_hour_of_daylight_saving() -> None:
    spring = due_instant(dt.date(2025, 3, 16), N, DEFAULT_POLICY)
    autumn = due_instant(dt.date(2025, 10, 12), N, DEFAULT_POLICY)
    # Both close at local midnight; only the UTC hour tells BST (23:00Z) from GMT (00:00Z).
    assert spring.astimezone(LONDON).time() == autumn.astimezone(LONDON).time() == dt.time(0)
    assert (spring.hour, autumn.hour) == (23, 0)
    assert autumn - spring == dt.timedelta(days=210, hours=1)


def test_the_last_day_in_time_is_whole() -> None:
    due = due_instant(dt.date(2025, 3, 16), N, DEFAULT_POLICY)
    assert last_day_in_time(dt.date(2025, 3, 16), N, DEFAULT_POLICY) == dt.date(2025, 3, 30)
    assert london(2025, 3, 30, 23, 59) < due
    assert london(2025, 3, 31) == due


@pytest.mark.parametrize(
    ("due_at", "days_before", "fire_utc"),
    [
        # Notification due 2025-03-31 00:00 BST (discovered 2025-03-16).
        pytest.param(utc("2025-03-30T23:00"), 7, "2025-03-24T00:00", id="P7D-before-spring-forward"),
        pytest.param(utc("2025-03-30T23:00"), 3, "2025-03-28T00:00", id="P3D-before-spring-forward"),
        pytest.param(utc("2025-03-30T23:00"), 1, "2025-03-30T00:00", id="P1D-23h-before-due"),
        # Notification due 2025-10-27 00:00 GMT (discovered 2025-10-12).
        pytest.param(utc("2025-10-27T00:00"), 7, "2025-10-19T23:00", id="P7D-in-bst"),
        pytest.param(utc("2025-10-27T00:00"), 1, "2025-10-25T23:00", id="P1D-25h-before-due"),
        # Report due 2025-06-09 00:00 BST (discovered 2025-03-16).
        pytest.param(utc("2025-06-08T23:00"), 28, "2025-05-11T23:00", id="P28D"),
        pytest.param(utc("2025-06-08T23:00"), 14, "2025-05-25T23:00", id="P14D"),
    ],
)
def test_reminder_instant(due_at: dt.datetime, days_before: int, fire_utc: str) -> None:
    assert reminder_instant(due_at, days_before) == utc(fire_utc)


@pytest.mark.parametrize(
    ("due_at", "days_overdue", "fire_utc"),
    [
        # Due 2025-03-30 00:00 GMT; the next local midnight is BST: a 23 h day.
        pytest.param(utc("2025-03-30T00:00"), 1, "2025-03-30T23:00", id="1-across-spring-forward"),
        pytest.param(utc("2025-03-30T00:00"), 2, "2025-03-31T23:00", id="2-after-spring-forward"),
        # Due 2025-10-26 00:00 BST; the next local midnight is GMT: a 25 h day.
        pytest.param(utc("2025-10-25T23:00"), 1, "2025-10-27T00:00", id="1-across-fall-back"),
        pytest.param(utc("2025-01-25T00:00"), 10, "2025-02-04T00:00", id="10-in-winter"),
    ],
)
def test_overdue_ticks_at_local_midnight(due_at: dt.datetime, days_overdue: int, fire_utc: str) -> None:
    assert overdue_instant(due_at, days_overdue) == utc(fire_utc)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(utc("2025-03-29T23:59"), 0, id="before-due"),
        pytest.param(utc("2025-03-30T00:00"), 0, id="at-due"),
        pytest.param(utc("2025-03-30T22:59"), 0, id="last-minute-of-day-0"),
        pytest.param(utc("2025-03-30T23:00"), 1, id="first-bst-midnight"),
        pytest.param(utc("2025-04-05T12:00"), 6, id="a-week-later"),
    ],
)
def test_days_overdue_counts_london_days(now: dt.datetime, expected: int) -> None:
    assert days_overdue_at(utc("2025-03-30T00:00"), now) == expected


def test_end_of_day_rejects_nothing_and_is_utc() -> None:
    assert end_of_day(dt.date(2025, 7, 1)).tzinfo is dt.UTC


@given(discovered_on=dates, local_days=st.integers(min_value=1, max_value=365))
def test_every_window_closes_at_local_midnight_after_its_last_day(
    discovered_on: dt.date, local_days: int
) -> None:
    policy = DeadlinePolicy(local_investigation_days=local_days)
    notification = due_instant(discovered_on, N, policy)
    report = due_instant(discovered_on, R, policy)
    local = due_instant(discovered_on, L, policy)
    assert notification < report
    for due, days in ((notification, 14), (report, 84), (local, local_days)):
        wall = due.astimezone(LONDON)
        assert wall.time() == dt.time(0)
        assert wall.date() == discovered_on + dt.timedelta(days=days + 1)
        assert due.utcoffset() == dt.timedelta(0)


@given(discovered_on=dates, days=st.integers(min_value=1, max_value=120))
def test_reminders_and_ticks_keep_local_midnight(discovered_on: dt.date, days: int) -> None:
    due = due_instant(discovered_on, R, DEFAULT_POLICY)
    due_day = due.astimezone(LONDON).date()
    before = reminder_instant(due, days).astimezone(LONDON)
    after = overdue_instant(due, days).astimezone(LONDON)
    assert (before.time(), before.date()) == (dt.time(0), due_day - dt.timedelta(days=days))
    assert (after.time(), after.date()) == (dt.time(0), due_day + dt.timedelta(days=days))
    assert days_overdue_at(due, after) == days
    assert days_overdue_at(due, after - dt.timedelta(microseconds=1)) == days - 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"local_investigation_days": 0}, "local_investigation_days", id="zero-local-days"),
        pytest.param({"notification_reminders": (7, 0)}, "notification_reminders", id="zero-offset"),
        pytest.param({"report_reminders": (-1,)}, "report_reminders", id="negative-offset"),
    ],
)
def test_policy_refuses_nonsense(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeadlinePolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_defaults_and_normalises_offsets() -> None:
    assert DEFAULT_POLICY.reminders(N) == (7, 3, 1)
    assert DEFAULT_POLICY.reminders(R) == (28, 14, 7, 1)
    assert DEFAULT_POLICY.reminders(L) == (7,)
    assert DEFAULT_POLICY.local_investigation_days == 30
    assert DeadlinePolicy(notification_reminders=(1, 7, 3, 7)).reminders(N) == (7, 3, 1)
    assert DeadlinePolicy(local_investigation_reminders=()).reminders(L) == ()


def test_policy_loads_from_storage_json_with_the_same_rules() -> None:
    adapter = TypeAdapter(DeadlinePolicy)
    loaded = adapter.validate_json('{"local_investigation_days": 45, "notification_reminders": [1, 7, 7]}')
    assert loaded == DeadlinePolicy(local_investigation_days=45, notification_reminders=(7, 1))
    with pytest.raises(ValidationError, match="at least 1"):
        adapter.validate_json('{"local_investigation_days": 0}')
