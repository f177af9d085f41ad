"""How "no later than N weeks after discovering" becomes an instant.

IR(ME)R Regulation 8(4) and the CQC guidance ("When to investigate and notify the enforcing
authority"): notify "no later than 2 weeks after discovering the incident" and send the report
"no later than 12 weeks after the incident was discovered". The reading (docs/deadlines.md):

* Calendar days, not working days: the guidance counts weeks and names no holiday rule.
* Discovery is a date (day 0). "2 weeks after" is the calendar day ``discovered_on + 14``, and
  "no later than" makes that whole day in time.
* Days are England's civil days, Europe/London, so the window closes at the end of the last day
  in time: 00:00 Europe/London on ``discovered_on + 15``, exclusive. A submission is late if and
  only if ``submitted_at >= due_at``.
* Instants are returned in UTC. Across daylight saving the UTC hour changes (23:00Z in summer,
  00:00Z in winter) and a window spanning a change is an hour shorter or longer in elapsed time.
  UK changes happen at 01:00 UTC, so local midnight is never skipped nor repeated.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from sievert_deadlines.domain.policy import DeadlinePolicy
from sievert_shared.events.deadlines import Window

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC

NOTIFICATION_DAYS = 14
"""Regulation 8(4), CQC guidance: notify no later than 2 weeks after discovery."""
INVESTIGATION_REPORT_DAYS = 84
"""Regulation 8(4), CQC guidance: report no later than 12 weeks after discovery."""


def require_aware(instant: dt.datetime, name: str = "instant") -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} is naive: every instant in Sievert is timezone-aware")
    return instant


def end_of_day(day: dt.date) -> dt.datetime:
    """The instant ``day`` ends in Europe/London (00:00 London the next day), in UTC."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=LONDON)
    return midnight.astimezone(UTC)


def window_days(window: Window, policy: DeadlinePolicy) -> int:
    """Calendar days from discovery to the last day in time."""
    match window:
        case Window.NOTIFICATION:
            return NOTIFICATION_DAYS
        case Window.INVESTIGATION_REPORT:
            return INVESTIGATION_REPORT_DAYS
        case Window.LOCAL_INVESTIGATION:
            return policy.local_investigation_days


def last_day_in_time(discovered_on: dt.date, window: Window, policy: DeadlinePolicy) -> dt.date:
    return discovered_on + dt.timedelta(days=window_days(window, policy))


def due_instant(discovered_on: dt.date, window: Window, policy: DeadlinePolicy) -> dt.datetime:
    """When ``window`` closes for an incident discovered on ``discovered_on`` (UTC, exclusive)."""
    return end_of_day(last_day_in_time(discovered_on, window, policy))


#: Pure functions of an instant, kept: every reminder and overdue tick falls on one of a few local
#: midnights, so a backlog of timers after a restart asks the same few instants again for every
#: incident, and the time-zone arithmetic was a fifth of the firing's Python. Aware datetimes
#: compare by instant, so one key serves an instant in any zone; the answers do not depend on it.
_CACHED = functools.lru_cache(maxsize=4096)


@_CACHED
def shift_local_days(instant: dt.datetime, days: int) -> dt.datetime:
    """The same Europe/London wall-clock time ``days`` calendar days away, in UTC.

    Reminders and overdue ticks are counted in calendar days, like the windows, so across a
    daylight-saving change consecutive ticks are 23 or 25 hours apart, never 24h drifting off
    local midnight.
    """
    wall = require_aware(instant).astimezone(LONDON).replace(tzinfo=None)
    return (wall + dt.timedelta(days=days)).replace(tzinfo=LONDON).astimezone(UTC)


def reminder_instant(due_at: dt.datetime, days_before: int) -> dt.datetime:
    """A reminder ``days_before`` calendar days ahead of ``due_at``: for a midnight due, the start
    of the day from which ``days_before`` days remain in time."""
    return shift_local_days(due_at, -days_before)


def overdue_instant(due_at: dt.datetime, days_overdue: int) -> dt.datetime:
    """The start of the ``days_overdue``-th calendar day after the window closed."""
    return shift_local_days(due_at, days_overdue)


def days_overdue_at(due_at: dt.datetime, now: dt.datetime) -> int:
    """Whole calendar days (Europe/London) the window has been closed at ``now``; 0 before that."""
    if now < due_at:
        return 0
    days = (_london_date(now) - _london_date(due_at)).days
    # ``due_at`` is local midnight in practice; for any other wall time, step back a day if the
    # day's tick has not come yet.
    while days > 0 and overdue_instant(due_at, days) > now:
        days -= 1
    return days


@_CACHED
def _london_date(instant: dt.datetime) -> dt.date:
    return instant.astimezone(LONDON).date()


def iso_days(days: int) -> str:
    """An offset as the ISO 8601 duration the events carry, e.g. ``P7D``."""
    return f"P{days}D"
