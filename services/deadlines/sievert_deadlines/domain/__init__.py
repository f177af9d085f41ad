"""The deadlines service's pure domain: IR(ME)R Regulation 8 windows, their timers and events.

No I/O, no clock: every function that needs the time takes ``now``.
"""

from sievert_deadlines.domain.calendar import (
    INVESTIGATION_REPORT_DAYS,
    LONDON,
    NOTIFICATION_DAYS,
    days_overdue_at,
    due_instant,
    end_of_day,
    last_day_in_time,
    overdue_instant,
    reminder_instant,
    window_days,
)
from sievert_deadlines.domain.policy import DEFAULT_POLICY, DeadlinePolicy
from sievert_deadlines.domain.state import (
    DeadlineError,
    DeadlineEvent,
    Extension,
    ExtensionRefusedError,
    IncidentDeadlines,
    TimerNotDueError,
    WindowState,
    WindowStatus,
)
from sievert_deadlines.domain.timers import Firing, PlannedTimer, TimerKind, fire, plan_timers, settle
from sievert_deadlines.domain.windows import Decision, on_classified, on_extended, on_submitted

__all__ = [
    "DEFAULT_POLICY",
    "INVESTIGATION_REPORT_DAYS",
    "LONDON",
    "NOTIFICATION_DAYS",
    "DeadlineError",
    "DeadlineEvent",
    "DeadlinePolicy",
    "Decision",
    "Extension",
    "ExtensionRefusedError",
    "Firing",
    "IncidentDeadlines",
    "PlannedTimer",
    "TimerKind",
    "TimerNotDueError",
    "WindowState",
    "WindowStatus",
    "days_overdue_at",
    "due_instant",
    "end_of_day",
    "fire",
    "last_day_in_time",
    "on_classified",
    "on_extended",
    "on_submitted",
    "overdue_instant",
    "plan_timers",
    "reminder_instant",
    "settle",
    "window_days",
]
