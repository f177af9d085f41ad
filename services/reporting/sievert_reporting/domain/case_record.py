"""How the deadlines service's case events change an incident's case in the read model: its
status (open, withdrawal requested, closed with the basis and the day its records may go), and
people's tasks. Pure: the rule the live consumer and a replay both apply.

Each part is changed by one producer only, and guarded by that producer's stream version, so an
event redelivered or arriving late never overwrites a newer one: the case's status by the
deadlines service's version of its last case event, each task by the version of its own last
event. Reporting's own case events (the local investigation, the authority's correspondence and
closure) live in their own rows (``domain.local_investigation``, ``domain.correspondence``): no
event of one producer writes what the other's wrote, so live processing (where reporting applies
its own events when it makes them) and a replay (in the log's order) end the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sievert_shared.events import (
    CaseClosed,
    CaseReopened,
    CaseRetentionExpired,
    NotificationWithdrawalAgreed,
    NotificationWithdrawalRequested,
    TaskApproaching,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskOpened,
    TaskOverdue,
)

CaseStatusEvent = (
    NotificationWithdrawalRequested
    | NotificationWithdrawalAgreed
    | CaseClosed
    | CaseReopened
    | CaseRetentionExpired
)
TaskEvent = TaskOpened | TaskAssigned | TaskApproaching | TaskOverdue | TaskCompleted | TaskCancelled
CaseStatus = Literal["open", "withdrawal_requested", "closed"]
CASE_STATUSES: tuple[CaseStatus, ...] = ("open", "withdrawal_requested", "closed")


@dataclass(frozen=True)
class CaseState:
    status: CaseStatus = "open"
    closure_basis: str | None = None
    closed_on: dt.date | None = None
    retain_until: dt.date | None = None
    retention_expired: bool = False
    reopen_reason: str | None = None
    #: when the case was last reopened (the event's ``recorded_at``): a new authority closure may follow
    reopened_at: dt.datetime | None = None
    #: the withdrawal of the notification: requested (authority, reason), then agreed (day, reference)
    withdrawal: dict[str, Any] | None = None
    #: the deadlines service's stream version of the last case event applied
    version: int = 0


def apply_case_event(
    state: CaseState, event: CaseStatusEvent, stream_version: int, recorded_at: dt.datetime
) -> CaseState | None:
    """The case after ``event``, or None if an equal or newer event was applied already."""
    if stream_version <= state.version:
        return None
    state = dataclasses.replace(state, version=stream_version)
    if isinstance(event, NotificationWithdrawalRequested):
        # nothing is cancelled silently: the report stays due until the authority agrees
        return dataclasses.replace(
            state,
            status="withdrawal_requested",
            withdrawal={
                "authority": event.authority,
                "reason": event.reason,
                "agreed_on": None,
                "reference": None,
            },
        )
    if isinstance(event, NotificationWithdrawalAgreed):
        withdrawal = {
            **(state.withdrawal or {"authority": event.authority, "reason": None}),
            "agreed_on": event.agreed_on.isoformat(),
            "reference": event.authority_reference,
        }
        # agreed: the case goes on until its local investigation is closed
        return dataclasses.replace(state, status="open", withdrawal=withdrawal)
    if isinstance(event, CaseClosed):
        return dataclasses.replace(
            state,
            status="closed",
            closure_basis=event.basis.value,
            closed_on=event.closed_on,
            retain_until=event.retain_until,
            retention_expired=False,
            reopen_reason=None,
        )
    if isinstance(event, CaseReopened):
        return dataclasses.replace(
            state,
            status="open",
            closure_basis=None,
            closed_on=None,
            retain_until=None,
            retention_expired=False,
            reopen_reason=event.reason,
            reopened_at=recorded_at,
        )
    return dataclasses.replace(state, retention_expired=True)


TaskStatus = Literal["open", "completed", "cancelled"]


@dataclass(frozen=True)
class TaskState:
    task_id: uuid.UUID
    kind: str
    status: TaskStatus = "open"
    owner_role: str | None = None
    due_at: dt.datetime | None = None
    overdue: bool = False
    reason: str | None = None
    completed_on: dt.date | None = None
    version: int = 0


def apply_task_event(task: TaskState | None, event: TaskEvent, stream_version: int) -> TaskState | None:
    """The task after ``event``, or None if an equal or newer event about it was applied already.
    An event about a task not opened yet (its ``TaskOpened`` is later in the log) makes the row."""
    if task is not None and stream_version <= task.version:
        return None
    if task is None:
        kind = event.kind.value if not isinstance(event, TaskAssigned) else "unknown"
        task = TaskState(task_id=event.task_id, kind=kind)
    task = dataclasses.replace(task, version=stream_version)
    if isinstance(event, TaskOpened):
        return dataclasses.replace(
            task,
            kind=event.kind.value,
            status="open",
            owner_role=event.owner_role,
            due_at=event.due_at,
            overdue=False,
            reason=event.reason,
            completed_on=None,
        )
    if isinstance(event, TaskAssigned):
        return dataclasses.replace(task, owner_role=event.owner_role)
    if isinstance(event, TaskApproaching):
        return dataclasses.replace(task, kind=event.kind.value, due_at=event.due_at)
    if isinstance(event, TaskOverdue):
        return dataclasses.replace(task, kind=event.kind.value, due_at=event.due_at, overdue=True)
    if isinstance(event, TaskCompleted):
        return dataclasses.replace(
            task, kind=event.kind.value, status="completed", completed_on=event.completed_on
        )
    return dataclasses.replace(task, kind=event.kind.value, status="cancelled")
