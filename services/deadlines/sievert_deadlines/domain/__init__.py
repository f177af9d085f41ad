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
from sievert_deadlines.domain.case import (
    WithdrawalDateError,
    WithdrawalRefusedError,
    on_authority_closed,
    on_authority_query_answered,
    on_authority_query_received,
    on_local_investigation_closed,
    on_local_investigation_reopened,
    on_withdrawal_agreed,
)
from sievert_deadlines.domain.changes import Decision
from sievert_deadlines.domain.policy import DEFAULT_POLICY, DeadlinePolicy
from sievert_deadlines.domain.state import (
    CaseState,
    CaseStatus,
    DeadlineError,
    DeadlineEvent,
    Extension,
    ExtensionRefusedError,
    IncidentDeadlines,
    TimerNotDueError,
    WindowState,
    WindowStatus,
    Withdrawal,
)
from sievert_deadlines.domain.timers import Firing, PlannedTimer, TimerKind, fire, plan_timers, settle
from sievert_deadlines.domain.windows import on_classified, on_extended, on_submitted

__all__ = [
    "DEFAULT_POLICY",
    "INVESTIGATION_REPORT_DAYS",
    "LONDON",
    "NOTIFICATION_DAYS",
    "CaseState",
    "CaseStatus",
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
    "Withdrawal",
    "WithdrawalDateError",
    "WithdrawalRefusedError",
    "days_overdue_at",
    "due_instant",
    "end_of_day",
    "fire",
    "last_day_in_time",
    "on_authority_closed",
    "on_authority_query_answered",
    "on_authority_query_received",
    "on_classified",
    "on_extended",
    "on_local_investigation_closed",
    "on_local_investigation_reopened",
    "on_submitted",
    "on_withdrawal_agreed",
    "overdue_instant",
    "plan_timers",
    "reminder_instant",
    "settle",
    "window_days",
]
