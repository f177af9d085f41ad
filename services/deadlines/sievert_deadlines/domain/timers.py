"""Durable timers as plain data, and what happens when one fires.

The storage layer keeps ``PlannedTimer`` rows, claims the due ones (``fire_at <= now()``,
``FOR UPDATE SKIP LOCKED``) and, for each, calls ``fire``: it returns the events to publish and
the next timer to store, in the same transaction.

Rules (docs/deadlines.md):

* Never early: ``fire`` refuses a timer whose ``fire_at`` is after ``now``.
* No stale bursts: of the timers of one window whose instants have all passed, only the most
  recent one speaks. A reminder is silent if a later reminder or the due instant has passed too;
  an overdue tick is silent if a later tick has passed, and the chain jumps to the current day.
  A ``due`` timer always speaks: ``DeadlineMissed`` is emitted exactly once per ``due_at``.
* The next timer ``fire`` returns is always in the future: anything already due is fired inline.
* A timer whose window is no longer open, or whose ``due_at`` is not the window's current one
  (it was re-planned), fires nothing.
* The early reminder of the notification window ("as soon as possible", line 218) fires the
  trust's ``asap_reminder_after_days`` after the day the window counts from, unless a later
  reminder or the due has passed too.
* The retention timer of a closed case (``window`` ``None``) fires ``CaseRetentionExpired`` once,
  at the end of ``retain_until``, if the case is still closed with that date.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from sievert_deadlines.domain.calendar import (
    LONDON,
    days_overdue_at,
    end_of_day,
    iso_days,
    overdue_instant,
    reminder_instant,
    require_aware,
)
from sievert_deadlines.domain.policy import DeadlinePolicy
from sievert_deadlines.domain.state import (
    CaseStatus,
    DeadlineEvent,
    IncidentDeadlines,
    TimerNotDueError,
    WindowState,
)
from sievert_shared.events.cases import CaseRetentionExpired
from sievert_shared.events.deadlines import (
    DeadlineApproaching,
    DeadlineMissed,
    DeadlineOverdue,
    Window,
)

CASE_TIMER = "case"


class TimerKind(enum.StrEnum):
    REMINDER = "reminder"
    EARLY = "early"
    """The notification window's "as soon as possible" reminder (line 218)."""
    DUE = "due"
    OVERDUE = "overdue"
    RETENTION = "retention"
    """A closed case's records reach the end of their retention (line 227)."""


@dataclass(frozen=True, slots=True)
class PlannedTimer:
    """One row of the timer table. ``due_at`` ties it to the plan it came from."""

    incident_id: uuid.UUID
    window: Window | None
    """``None`` for the case's own timer (retention)."""
    kind: TimerKind
    fire_at: dt.datetime
    due_at: dt.datetime
    days_before: int | None = None
    """Reminders only: the offset, in calendar days before ``due_at``."""
    days_overdue: int | None = None
    """Overdue ticks only: which day after the window closed, from 1."""

    @property
    def window_kind(self) -> str:
        """How storage names the timer's owner: its window, or ``case`` for the retention timer."""
        return CASE_TIMER if self.window is None else self.window.value

    def __post_init__(self) -> None:
        require_aware(self.fire_at, "fire_at")
        require_aware(self.due_at, "due_at")
        if (self.kind is TimerKind.REMINDER) != (self.days_before is not None):
            raise ValueError("days_before is set exactly on reminder timers")
        if (self.kind is TimerKind.OVERDUE) != (self.days_overdue is not None):
            raise ValueError("days_overdue is set exactly on overdue timers")
        if self.days_overdue is not None and self.days_overdue < 1:
            raise ValueError("days_overdue starts at 1")
        if (self.kind is TimerKind.RETENTION) != (self.window is None):
            raise ValueError("only the retention timer belongs to the case rather than a window")


@dataclass(frozen=True, slots=True)
class Firing:
    """What firing a timer produced: events to publish, and the next timer to store, if any."""

    events: tuple[DeadlineEvent, ...] = ()
    next_timer: PlannedTimer | None = None


def reminder_timer(incident_id: uuid.UUID, state: WindowState, days_before: int) -> PlannedTimer:
    return PlannedTimer(
        incident_id=incident_id,
        window=state.window,
        kind=TimerKind.REMINDER,
        fire_at=reminder_instant(state.due_at, days_before),
        due_at=state.due_at,
        days_before=days_before,
    )


def early_instant(state: WindowState, days_after: int) -> dt.datetime:
    """00:00 Europe/London ``days_after`` calendar days after the day the window counts from."""
    day = state.counts_from + dt.timedelta(days=days_after)
    return dt.datetime.combine(day, dt.time(0), tzinfo=LONDON).astimezone(dt.UTC)


def early_timer(incident_id: uuid.UUID, state: WindowState, days_after: int) -> PlannedTimer:
    return PlannedTimer(
        incident_id=incident_id,
        window=state.window,
        kind=TimerKind.EARLY,
        fire_at=early_instant(state, days_after),
        due_at=state.due_at,
    )


def retention_timer(incident_id: uuid.UUID, retain_until: dt.date) -> PlannedTimer:
    """Fires when ``retain_until``, the last day the records are kept, has ended."""
    instant = end_of_day(retain_until)
    return PlannedTimer(
        incident_id=incident_id, window=None, kind=TimerKind.RETENTION, fire_at=instant, due_at=instant
    )


def due_timer(incident_id: uuid.UUID, state: WindowState) -> PlannedTimer:
    return PlannedTimer(
        incident_id=incident_id,
        window=state.window,
        kind=TimerKind.DUE,
        fire_at=state.due_at,
        due_at=state.due_at,
    )


def overdue_timer(incident_id: uuid.UUID, state: WindowState, days_overdue: int) -> PlannedTimer:
    return PlannedTimer(
        incident_id=incident_id,
        window=state.window,
        kind=TimerKind.OVERDUE,
        fire_at=overdue_instant(state.due_at, days_overdue),
        due_at=state.due_at,
        days_overdue=days_overdue,
    )


def plan_timers(
    incident_id: uuid.UUID, state: WindowState, policy: DeadlinePolicy
) -> tuple[PlannedTimer, ...]:
    """Every timer of an open window's current plan, earliest first: the reminders, then ``due``.

    Some may already be in the past; ``settle`` fires those and keeps the rest.
    """
    if not state.is_open:
        return ()
    early: list[PlannedTimer] = []
    if state.window is Window.NOTIFICATION and policy.asap_reminder_after_days is not None:
        early.append(early_timer(incident_id, state, policy.asap_reminder_after_days))
    reminders = [reminder_timer(incident_id, state, days) for days in policy.reminders(state.window)]
    ordered = sorted([*early, *reminders], key=lambda t: t.fire_at)
    return (*ordered, due_timer(incident_id, state))


def _approaching(state: WindowState, reminder: str, *, early: bool = False) -> DeadlineApproaching:
    return DeadlineApproaching(
        window=state.window,
        due_at=state.due_at,
        reminder=reminder,
        early=early,
        provisional=state.provisional,
        needs_facts=list(state.needs_facts) if state.provisional else [],
    )


def _fire_one(
    timer: PlannedTimer, state: WindowState, policy: DeadlinePolicy, now: dt.datetime
) -> tuple[tuple[DeadlineEvent, ...], PlannedTimer | None]:
    window, due_at = state.window, state.due_at
    match timer.kind:
        case TimerKind.REMINDER:
            assert timer.days_before is not None
            later = [reminder_instant(due_at, d) for d in policy.reminders(window) if d < timer.days_before]
            if any(instant <= now for instant in [*later, due_at]):
                return (), None  # stale: a later reminder, or the due itself, has passed
            return (_approaching(state, iso_days(timer.days_before)),), None
        case TimerKind.EARLY:
            regular = [reminder_instant(due_at, d) for d in policy.reminders(window)]
            later = [instant for instant in [*regular, due_at] if instant > timer.fire_at]
            if any(instant <= now for instant in later):
                return (), None  # stale: a later reminder, or the due itself, has passed
            days_after = (timer.fire_at.astimezone(LONDON).date() - state.counts_from).days
            return (_approaching(state, iso_days(days_after), early=True),), None
        case TimerKind.DUE:
            first = max(1, days_overdue_at(due_at, now))
            return (DeadlineMissed(window=window, due_at=due_at),), overdue_timer(
                timer.incident_id, state, first
            )
        case TimerKind.OVERDUE:
            assert timer.days_overdue is not None
            current = days_overdue_at(due_at, now)
            if current > timer.days_overdue:
                return (), overdue_timer(timer.incident_id, state, current)  # stale: jump to today
            tick = DeadlineOverdue(window=window, due_at=due_at, days_overdue=timer.days_overdue)
            return (tick,), overdue_timer(timer.incident_id, state, timer.days_overdue + 1)
        case TimerKind.RETENTION:  # pragma: no cover - fired by ``fire`` before a window is looked up
            return (), None


def _fire_chain(timer: PlannedTimer, state: WindowState, policy: DeadlinePolicy, now: dt.datetime) -> Firing:
    events: list[DeadlineEvent] = []
    current = timer
    while True:
        produced, following = _fire_one(current, state, policy, now)
        events.extend(produced)
        if following is None or following.fire_at > now:
            return Firing(tuple(events), following)
        current = following


def fire(
    timer: PlannedTimer, deadlines: IncidentDeadlines, policy: DeadlinePolicy, now: dt.datetime
) -> Firing:
    """Fire a claimed timer at ``now``. Raises ``TimerNotDueError`` if ``now < timer.fire_at``."""
    require_aware(now, "now")
    if now < timer.fire_at:
        raise TimerNotDueError(
            f"{timer.kind} timer for {timer.window} fires at {timer.fire_at.isoformat()}, "
            f"not at {now.isoformat()}"
        )
    if timer.incident_id != deadlines.incident_id:
        raise ValueError(f"timer for incident {timer.incident_id} fired against {deadlines.incident_id}")
    if timer.window is None:
        return _fire_retention(timer, deadlines)
    state = deadlines.window(timer.window)
    if state is None or not state.is_open or state.due_at != timer.due_at:
        return Firing()  # met, cancelled or re-planned since this timer was stored
    return _fire_chain(timer, state, policy, now)


def _fire_retention(timer: PlannedTimer, deadlines: IncidentDeadlines) -> Firing:
    """A closed case reached the end of its retention: intake shreds the patient's identifiers.
    A case reopened (or closed again with another date) since the timer was stored fires nothing."""
    case = deadlines.case
    if case.status is not CaseStatus.CLOSED or case.retain_until is None or case.closed_on is None:
        return Firing()
    if end_of_day(case.retain_until) != timer.due_at:
        return Firing()
    return Firing((CaseRetentionExpired(closed_on=case.closed_on, retain_until=case.retain_until),))


def settle(
    incident_id: uuid.UUID, state: WindowState, policy: DeadlinePolicy, now: dt.datetime
) -> tuple[tuple[DeadlineEvent, ...], tuple[PlannedTimer, ...]]:
    """Plan an open window's timers at ``now``: fire the ones already due (under the stale rules)
    and return their events, with the timers left to store, all of them in the future."""
    events: list[DeadlineEvent] = []
    pending: list[PlannedTimer] = []
    for timer in plan_timers(incident_id, state, policy):
        if timer.fire_at > now:
            pending.append(timer)
            continue
        firing = _fire_chain(timer, state, policy, now)
        events.extend(firing.events)
        if firing.next_timer is not None:
            pending.append(firing.next_timer)
    return tuple(events), tuple(pending)
