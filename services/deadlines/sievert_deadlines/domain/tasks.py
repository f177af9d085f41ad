"""People's tasks on a case: which are owed, when each is due, its reminders, and its completion.

Pure, like the windows: every function that needs the time takes ``now``. The case's state the
rule reads is the last classification (``IncidentClassified``/``IncidentReclassified`` v2) and
the investigation report window as the deadlines service itself published it (scheduled, moved,
reminded, missed, met, cancelled). Each transition returns a ``TaskDecision``: the new state, the
task events in order, the task kinds whose pending timers to delete and the timers to insert
(always in the future). Readings: docs/deadlines.md, "Tasks".

Guidance lines are those of the CQC guidance, cqc-irmer-notification-guidance-2023.txt (``GUIDANCE_SOURCE``).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import TypeAdapter

from sievert_deadlines.domain.calendar import (
    LONDON,
    due_instant,
    end_of_day,
    iso_days,
    reminder_instant,
    require_aware,
)
from sievert_deadlines.domain.policy import DeadlinePolicy
from sievert_deadlines.domain.state import TimerNotDueError, WindowStatus
from sievert_deadlines.domain.timers import TimerKind
from sievert_shared.decision import DecisionStatus, OtherBody
from sievert_shared.errors import ConflictError, NotFoundError, UnprocessableError
from sievert_shared.events.cases import (
    TaskApproaching,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskKind,
    TaskOpened,
    TaskOverdue,
)
from sievert_shared.events.deadlines import Window

TaskEvent = TaskOpened | TaskAssigned | TaskApproaching | TaskOverdue | TaskCompleted | TaskCancelled

REPORT_AT_RISK_DAYS = 14
"""Line 221 ("If you cannot submit the report within the expected timeframe, you need to discuss
with an inspector ... as early as possible"): our reading is that the report is at risk once a
report reminder fires with this many days or fewer left, or the window is missed, and no report
has been sent. Two weeks is the guidance's own shortest interval (line 219)."""

DEVICE_BODIES: tuple[OtherBody, ...] = (OtherBody.MHRA, OtherBody.HFS, OtherBody.NIAIC)
"""Lines 260, 375-391: the body for device- and medicine-related incidents in each nation."""


def task_id_for(incident_id: uuid.UUID, kind: TaskKind) -> uuid.UUID:
    """One task per kind and case, the same id on every replica and replay."""
    return uuid.uuid5(incident_id, kind.value)


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The ``days``-th Monday-to-Friday after ``start``. Bank holidays are counted as working days:
    the due comes a day or so earlier than a holiday calendar would give, never later."""
    day = start
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


# -- the case as the rule reads it ----------------------------------------------------------------


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    """Final: a completed task stays completed, whatever a later decision says."""
    CANCELLED = "cancelled"
    """The decision no longer calls for it; a later one may open it again."""


@dataclass(frozen=True, slots=True)
class EmployerDuty:
    """Several employers are named: which one notifies, and whether it is this case's trust."""

    notifying_employer: str
    this_trust_notifies: bool


@dataclass(frozen=True, slots=True)
class Classification:
    """What the rule reads of the last decision (``ClassificationDecision`` v2)."""

    status: DecisionStatus
    notifiable: bool
    csaue: bool
    codes: tuple[str, ...]
    other_bodies: tuple[OtherBody, ...]
    employers: EmployerDuty | None = None
    """From the decision's ``employers`` reason; None when the facts name no other employer."""

    @property
    def settled(self) -> bool:
        """Notifiable or not notifiable: an undecided decision may still become a CSAUE."""
        return self.status is not DecisionStatus.UNDECIDED


@dataclass(frozen=True, slots=True)
class ReportWindow:
    """The investigation report window, as the deadlines service published it."""

    status: WindowStatus
    due_at: dt.datetime
    at_risk: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    completed_on: dt.date
    completed_by_role: str
    outcome: str
    steps: dict[str, dt.date] = field(default_factory=dict)
    step_roles: dict[str, str] = field(default_factory=dict)
    steps_not_taken: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    task_id: uuid.UUID
    kind: TaskKind
    status: TaskStatus
    version: int
    """Moves on every change of the task: optimistic concurrency for people acting on it."""
    opened_at: dt.datetime
    reason: str
    guidance_lines: tuple[int, ...]
    due_at: dt.datetime | None = None
    owner_role: str | None = None
    completion: Completion | None = None
    cancelled_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status is TaskStatus.OPEN


@dataclass(frozen=True, slots=True)
class IncidentTasks:
    """One case's tasks and what the rule last read of its classification and report window."""

    incident_id: uuid.UUID
    discovered_on: dt.date | None = None
    classification: Classification | None = None
    report: ReportWindow | None = None
    tasks: tuple[Task, ...] = ()

    def task(self, kind: TaskKind) -> Task | None:
        return next((t for t in self.tasks if t.kind is kind), None)

    def by_id(self, task_id: uuid.UUID) -> Task | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)

    def with_task(self, task: Task) -> IncidentTasks:
        others = [t for t in self.tasks if t.kind is not task.kind]
        ordered = sorted([*others, task], key=lambda t: list(TaskKind).index(t.kind))
        return replace(self, tasks=tuple(ordered))


_TASK = TypeAdapter(Task)


def task_document(task: Task) -> dict[str, Any]:
    """The task as JSON, for people and for a conflict's answer."""
    document: dict[str, Any] = _TASK.dump_python(task, mode="json")
    return document


# -- the rule: which tasks are owed ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Owed:
    kind: TaskKind
    due_at: dt.datetime | None
    reason: str
    guidance_lines: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Obligations:
    """What the case's state says: the tasks owed, and the kinds it says are not owed, each with
    the reason. A kind in neither is left as it is (the state cannot tell yet)."""

    owed: Mapping[TaskKind, Owed]
    released: Mapping[TaskKind, str]


def obligations(case: IncidentTasks, policy: DeadlinePolicy) -> Obligations:
    """Which tasks the case owes, with their due dates (docs/deadlines.md, "Tasks")."""
    owed: dict[TaskKind, Owed] = {}
    released: dict[TaskKind, str] = {}
    c, report, discovered = case.classification, case.report, case.discovered_on
    csaue: bool | None = None if c is None or not c.settled else c.csaue

    if csaue and discovered is not None:
        # Line 85: "apply the duty of candour for CSAUE events"; line 235: the report says
        # whether it was met. The due is the trust's policy, not law (regulation 20: "as soon
        # as reasonably practicable").
        owed[TaskKind.DUTY_OF_CANDOUR] = Owed(
            TaskKind.DUTY_OF_CANDOUR,
            end_of_day(add_working_days(discovered, policy.duty_of_candour_working_days)),
            "clinically significant exposure (CSAUE, code C): duty of candour under regulation 20 of the "
            "Health and Social Care Act 2008 (Regulated Activities) Regulations 2014: tell the patient, "
            "apologise and follow up in writing; due by the trust's policy",
            (85, 235),
        )
        # Lines 78 and 236: Regulation 8(1) informing for a CSAUE, by the trust's CSAUE procedure.
        owed[TaskKind.REGULATION_8_1_INFORM] = Owed(
            TaskKind.REGULATION_8_1_INFORM,
            end_of_day(add_working_days(discovered, policy.regulation_8_1_working_days)),
            "clinically significant exposure (CSAUE, code C): inform the referrer, the practitioner and "
            "the patient or their representative under Regulation 8(1), or record why not",
            (78, 236),
        )
    elif csaue is False:
        for kind in (TaskKind.DUTY_OF_CANDOUR, TaskKind.REGULATION_8_1_INFORM):
            released[kind] = "re-classified: not a clinically significant exposure (no code C)"

    bodies = [b for b in (c.other_bodies if c else ()) if b in DEVICE_BODIES]
    if bodies:
        # Lines 260 and 377-391: report device and medicine incidents to the nation's body,
        # "even if they have not resulted in a SAUE"; no date is set.
        owed[TaskKind.MHRA_REPORT] = Owed(
            TaskKind.MHRA_REPORT,
            None,
            f"device- or medicine-related incident: report it to {', '.join(b.upper() for b in bodies)}",
            (260, *range(375, 392)),
        )
    elif c is not None and c.settled:
        released[TaskKind.MHRA_REPORT] = "re-classified: no device or medicine report is called for"

    if report is not None and report.status in (WindowStatus.OPEN, WindowStatus.MET):
        # Line 234: the report says whether similar incidents occurred; a person confirms what the
        # machine proposes before the report is due.
        owed[TaskKind.SIMILAR_INCIDENTS_CONFIRMATION] = Owed(
            TaskKind.SIMILAR_INCIDENTS_CONFIRMATION,
            report.due_at,
            "the investigation report is due: confirm or edit the similar previous incidents it names",
            (234,),
        )
    elif report is not None:
        released[TaskKind.SIMILAR_INCIDENTS_CONFIRMATION] = "the investigation report is no longer due"

    contact = _inspector_contact(csaue, report, discovered, policy)
    if isinstance(contact, Owed):
        owed[TaskKind.EARLY_INSPECTOR_CONTACT] = contact
    elif contact is not None:
        released[TaskKind.EARLY_INSPECTOR_CONTACT] = contact

    employer_released: dict[TaskKind, str] = {}
    _employer_duties(c, discovered, policy, owed, employer_released)
    # Most cases name one employer: the employers' tasks are released only where a case has one.
    released.update({kind: why for kind, why in employer_released.items() if case.task(kind) is not None})
    return Obligations(owed, released)


_EMPLOYER_TASKS = (TaskKind.INFORM_OTHER_EMPLOYERS, TaskKind.CONFIRM_OTHER_EMPLOYER_NOTIFIED)


def _employer_duties(
    c: Classification | None,
    discovered: dt.date | None,
    policy: DeadlinePolicy,
    owed: dict[TaskKind, Owed],
    released: dict[TaskKind, str],
) -> None:
    """Several employers (docs/classifier.md, "Several employers"): the one that notifies (lines 43,
    51, 216) informs the others, due by the trust's policy; a trust whose duty rests with another
    employer confirms that employer's notification by the notification's own due (line 219), with
    the authority's reference (line 116). Owed for a notifiable decision only; an undecided one
    leaves them as they are."""
    if c is None or not c.settled:
        return
    duty = c.employers
    if not c.notifiable or duty is None or discovered is None:
        why = "not notifiable" if not c.notifiable else "no other employer is named"
        for kind in _EMPLOYER_TASKS:
            released[kind] = f"re-classified: {why}"
        return
    if duty.this_trust_notifies:
        owed[TaskKind.INFORM_OTHER_EMPLOYERS] = Owed(
            TaskKind.INFORM_OTHER_EMPLOYERS,
            end_of_day(add_working_days(discovered, policy.inform_other_employers_working_days)),
            "several employers, and this trust notifies: inform the other employer(s) of the incident and of "
            "the notification (its reference, once the authority gives it); due by the trust's policy",
            (43, 51, 116, 216),
        )
        released[TaskKind.CONFIRM_OTHER_EMPLOYER_NOTIFIED] = "this trust notifies"
    else:
        owed[TaskKind.CONFIRM_OTHER_EMPLOYER_NOTIFIED] = Owed(
            TaskKind.CONFIRM_OTHER_EMPLOYER_NOTIFIED,
            due_instant(discovered, Window.NOTIFICATION, policy),
            f"several employers, and {duty.notifying_employer} notifies: confirm that it has notified the "
            "enforcing authority within the 2 weeks, and record the authority's reference (as a notification "
            "made outside Sievert)",
            (116, 216, 219),
        )
        released[TaskKind.INFORM_OTHER_EMPLOYERS] = f"{duty.notifying_employer} notifies, not this trust"


def _inspector_contact(
    csaue: bool | None, report: ReportWindow | None, discovered: dt.date | None, policy: DeadlinePolicy
) -> Owed | str | None:
    """Line 221: "discuss with an inspector ... as early as possible" when the report cannot be on
    time. Owed while no report has been sent and either the report is at risk (due with the report)
    or the exposure is a CSAUE (our reading of a serious case: due with the notification)."""
    reported = report is not None and report.status is WindowStatus.MET
    at_risk = report is not None and report.status is WindowStatus.OPEN and report.at_risk
    reasons: list[str] = []
    dues: list[dt.datetime] = []
    if at_risk and report is not None:
        reasons.append("the investigation report is at risk of being late")
        dues.append(report.due_at)
    if csaue and discovered is not None and not reported:
        reasons.append("a clinically significant exposure (CSAUE) is a serious case")
        dues.append(due_instant(discovered, Window.NOTIFICATION, policy))
    if reasons:
        return Owed(
            TaskKind.EARLY_INSPECTOR_CONTACT,
            min(dues),
            f"{' and '.join(reasons)}: discuss the report's timing with an inspector as early as possible",
            (221,),
        )
    if reported:
        return "the investigation report was sent"
    if csaue is False or (report is not None and report.status is WindowStatus.CANCELLED):
        return "no serious case and no report at risk"
    return None


# -- timers ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskTimer:
    """One row of the task timer table; ``due_at`` ties it to the due it was planned for."""

    incident_id: uuid.UUID
    task_kind: TaskKind
    kind: TimerKind
    fire_at: dt.datetime
    due_at: dt.datetime
    days_before: int | None = None

    def __post_init__(self) -> None:
        require_aware(self.fire_at, "fire_at")
        require_aware(self.due_at, "due_at")
        if self.kind is TimerKind.OVERDUE:
            raise ValueError("a task is overdue once, at its due: no daily ticks")
        if (self.kind is TimerKind.REMINDER) != (self.days_before is not None):
            raise ValueError("days_before is set exactly on reminder timers")


def plan_task_timers(incident_id: uuid.UUID, task: Task, policy: DeadlinePolicy) -> tuple[TaskTimer, ...]:
    """The reminders (earliest first), then ``due``, of an open task with a due."""
    if not task.is_open or task.due_at is None:
        return ()
    due_at = task.due_at
    reminders = [
        TaskTimer(incident_id, task.kind, TimerKind.REMINDER, reminder_instant(due_at, d), due_at, d)
        for d in policy.task_reminders
    ]
    return (*reminders, TaskTimer(incident_id, task.kind, TimerKind.DUE, due_at, due_at))


def _fire(timer: TaskTimer, task: Task, policy: DeadlinePolicy, now: dt.datetime) -> tuple[TaskEvent, ...]:
    """The window timers' rules (docs/deadlines.md): a reminder is silent if a later reminder or
    the due has passed too; the due speaks once, however late it is claimed."""
    assert task.due_at is not None
    if timer.kind is TimerKind.REMINDER:
        assert timer.days_before is not None
        later = [reminder_instant(task.due_at, d) for d in policy.task_reminders if d < timer.days_before]
        if any(instant <= now for instant in [*later, task.due_at]):
            return ()
        return (
            TaskApproaching(
                task_id=task.task_id, kind=task.kind, due_at=task.due_at, reminder=iso_days(timer.days_before)
            ),
        )
    return (TaskOverdue(task_id=task.task_id, kind=task.kind, due_at=task.due_at),)


def fire_task_timer(
    timer: TaskTimer, case: IncidentTasks, policy: DeadlinePolicy, now: dt.datetime
) -> tuple[TaskEvent, ...]:
    """Fire a claimed task timer at ``now``. Never early: ``TimerNotDueError`` before ``fire_at``.
    A timer of a task no longer open, or planned for another due, fires nothing."""
    require_aware(now, "now")
    if now < timer.fire_at:
        raise TimerNotDueError(
            f"{timer.kind} timer of task {timer.task_kind} fires at {timer.fire_at.isoformat()}, "
            f"not at {now.isoformat()}"
        )
    task = case.task(timer.task_kind)
    if task is None or not task.is_open or task.due_at != timer.due_at:
        return ()
    return _fire(timer, task, policy, now)


def settle_task(
    incident_id: uuid.UUID, task: Task, policy: DeadlinePolicy, now: dt.datetime
) -> tuple[tuple[TaskEvent, ...], tuple[TaskTimer, ...]]:
    """Plan an open task's timers at ``now``: fire those already due, keep the future ones."""
    events: list[TaskEvent] = []
    pending: list[TaskTimer] = []
    for timer in plan_task_timers(incident_id, task, policy):
        if timer.fire_at > now:
            pending.append(timer)
        else:
            events.extend(_fire(timer, task, policy, now))
    return tuple(events), tuple(pending)


# -- transitions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskDecision:
    """The outcome of one transition; no events and no timers mean nothing changed."""

    tasks: IncidentTasks
    events: tuple[TaskEvent, ...] = ()
    cancel_timers: tuple[TaskKind, ...] = ()
    """Delete every pending timer of these task kinds (of this incident) before inserting."""
    schedule_timers: tuple[TaskTimer, ...] = ()


@dataclass
class _Changes:
    case: IncidentTasks
    policy: DeadlinePolicy
    now: dt.datetime
    events: list[TaskEvent] = field(default_factory=list)
    cancel: list[TaskKind] = field(default_factory=list)
    schedule: list[TaskTimer] = field(default_factory=list)

    def put(self, task: Task) -> None:
        self.case = self.case.with_task(task)

    def replan(self, task: Task) -> None:
        self.put(task)
        self.drop_timers(task.kind)
        events, pending = settle_task(self.case.incident_id, task, self.policy, self.now)
        self.events.extend(events)
        self.schedule.extend(pending)

    def drop_timers(self, kind: TaskKind) -> None:
        if kind not in self.cancel:
            self.cancel.append(kind)

    def decision(self) -> TaskDecision:
        return TaskDecision(self.case, tuple(self.events), tuple(self.cancel), tuple(self.schedule))


def _opened(task: Task) -> TaskOpened:
    return TaskOpened(
        task_id=task.task_id,
        kind=task.kind,
        owner_role=task.owner_role,
        due_at=task.due_at,
        reason=task.reason,
        guidance_lines=list(task.guidance_lines),
    )


def reconcile(case: IncidentTasks, policy: DeadlinePolicy, now: dt.datetime) -> TaskDecision:
    """Open the tasks the case owes, move the due of open ones whose due moved, and cancel the open
    ones it no longer owes. A completed task stays completed; a cancelled one opens again if owed.
    Applied twice to the same state, it changes nothing."""
    require_aware(now, "now")
    changes = _Changes(case, policy, now)
    duties = obligations(case, policy)
    for kind in TaskKind:
        current = case.task(kind)
        wanted = duties.owed.get(kind)
        if wanted is not None:
            if current is None or current.status is TaskStatus.CANCELLED:
                opened = Task(
                    task_id=task_id_for(case.incident_id, kind),
                    kind=kind,
                    status=TaskStatus.OPEN,
                    version=current.version + 1 if current else 1,
                    opened_at=now,
                    reason=wanted.reason,
                    guidance_lines=wanted.guidance_lines,
                    due_at=wanted.due_at,
                    owner_role=current.owner_role if current else None,
                )
                changes.events.append(_opened(opened))
                changes.replan(opened)
            elif current.is_open and (current.due_at, current.reason) != (wanted.due_at, wanted.reason):
                moved = replace(
                    current, due_at=wanted.due_at, reason=wanted.reason, version=current.version + 1
                )
                changes.events.append(_opened(moved))
                if moved.due_at != current.due_at:
                    changes.replan(moved)
                else:
                    changes.put(moved)
        elif kind in duties.released and current is not None and current.is_open:
            reason = duties.released[kind]
            cancelled = replace(
                current, status=TaskStatus.CANCELLED, cancelled_reason=reason, version=current.version + 1
            )
            changes.put(cancelled)
            changes.drop_timers(kind)
            changes.events.append(TaskCancelled(task_id=current.task_id, kind=kind, reason=reason))
    return changes.decision()


def classified(
    case: IncidentTasks | None,
    *,
    incident_id: uuid.UUID,
    classification: Classification,
    discovered_on: dt.date,
    policy: DeadlinePolicy,
    now: dt.datetime,
) -> TaskDecision:
    """Apply ``IncidentClassified``/``IncidentReclassified``: remember the decision, then reconcile."""
    base = case or IncidentTasks(incident_id)
    return reconcile(replace(base, classification=classification, discovered_on=discovered_on), policy, now)


class ReportChange(enum.StrEnum):
    SCHEDULED = "scheduled"
    EXTENDED = "extended"
    REMINDED = "reminded"
    MISSED = "missed"
    MET = "met"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ReportSignal:
    """One event the deadlines service emitted about the investigation report window."""

    change: ReportChange
    due_at: dt.datetime
    days_left: int | None = None
    """A reminder's offset, in days before ``due_at``."""
    discovered_on: dt.date | None = None


def _followed(report: ReportWindow | None, signal: ReportSignal) -> ReportWindow | None:
    due_at = signal.due_at
    match signal.change:
        case ReportChange.SCHEDULED | ReportChange.EXTENDED:
            keep_risk = report is not None and report.status is WindowStatus.OPEN and report.at_risk
            return ReportWindow(WindowStatus.OPEN, due_at, at_risk=keep_risk)
        case ReportChange.REMINDED | ReportChange.MISSED:
            risky = signal.change is ReportChange.MISSED or (
                signal.days_left is not None and signal.days_left <= REPORT_AT_RISK_DAYS
            )
            if report is None:
                # A case whose window opened before its tasks were kept (a deployment from before
                # them): a reminder or a miss says the window is open, and with which due.
                return ReportWindow(WindowStatus.OPEN, due_at, at_risk=risky)
            current = report.status is WindowStatus.OPEN and report.due_at == due_at
            return replace(report, at_risk=True) if current and risky else report
        case ReportChange.MET:
            return ReportWindow(WindowStatus.MET, due_at)
        case ReportChange.CANCELLED:
            return ReportWindow(WindowStatus.CANCELLED, due_at)


def report_window_followed(
    case: IncidentTasks | None,
    *,
    incident_id: uuid.UUID,
    signals: Sequence[ReportSignal],
    policy: DeadlinePolicy,
    now: dt.datetime,
) -> TaskDecision:
    """Apply, in order, what one transition of the windows emitted about the investigation report
    window, then reconcile the tasks once.

    A reminder or a miss for a due the window no longer has (it was re-planned) changes nothing.
    A reminder with ``REPORT_AT_RISK_DAYS`` or fewer left, or a miss, puts the report at risk.
    """
    base = case or IncidentTasks(incident_id)
    report = base.report
    for signal in signals:
        if signal.discovered_on is not None:
            base = replace(base, discovered_on=signal.discovered_on)
        report = _followed(report, signal)
    return reconcile(replace(base, report=report), policy, now)


# -- people's commands ----------------------------------------------------------------------------


class UnknownTaskError(NotFoundError):
    def __init__(self, task_id: uuid.UUID) -> None:
        super().__init__(f"no task {task_id} on this incident")


class TaskStateError(ConflictError):
    """The task's current state refuses the request; the answer carries that state."""

    title = "Task conflict"

    def __init__(self, detail: str, task: Task) -> None:
        super().__init__(detail, current_version=task.version, task=task_document(task))


class InvalidCompletionError(UnprocessableError):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        fields = ", ".join(e["path"] for e in errors)
        super().__init__(f"the completion is refused: {fields}", errors=errors)


def _check_version(task: Task, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != task.version:
        raise TaskStateError(
            f"the task is at version {task.version}, not {expected_version}: read it again", task
        )


def assign(
    case: IncidentTasks,
    *,
    task_id: uuid.UUID,
    owner_role: str,
    assigned_by_role: str,
    expected_version: int | None = None,
) -> TaskDecision:
    """Give an open task an owner (a role). The same owner again changes nothing."""
    task = case.by_id(task_id)
    if task is None:
        raise UnknownTaskError(task_id)
    if task.owner_role == owner_role and task.is_open:
        return TaskDecision(case)
    _check_version(task, expected_version)
    if not task.is_open:
        raise TaskStateError(f"the task is {task.status}: only an open task can be assigned", task)
    assigned = replace(task, owner_role=owner_role, version=task.version + 1)
    event = TaskAssigned(task_id=task_id, owner_role=owner_role, assigned_by_role=assigned_by_role)
    return TaskDecision(case.with_task(assigned), (event,))


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    may_be_not_taken: bool
    not_before: str | None = None
    """Another step this one cannot precede."""


STEPS: Mapping[TaskKind, tuple[Step, ...]] = {
    # Regulation 20(2)-(4): notify in person, apologise, follow up in writing; 20(5): if the person
    # cannot be contacted or declines, a record of the attempts stands in for the steps.
    TaskKind.DUTY_OF_CANDOUR: (
        Step("told_patient", True),
        Step("apologised", True),
        Step("written_follow_up", True, not_before="told_patient"),
    ),
    # Line 78 (Regulation 8(1)): referrer and practitioner are always informed; the patient or
    # their representative unless the record says why not (e.g. clinical reasons).
    TaskKind.REGULATION_8_1_INFORM: (
        Step("informed_referrer", False),
        Step("informed_practitioner", False),
        Step("informed_patient", True),
    ),
    TaskKind.SIMILAR_INCIDENTS_CONFIRMATION: (Step("confirmed", False),),
    TaskKind.MHRA_REPORT: (Step("reported", True),),
    TaskKind.EARLY_INSPECTOR_CONTACT: (Step("contacted", True),),
    TaskKind.INFORM_OTHER_EMPLOYERS: (Step("informed", False),),
    TaskKind.CONFIRM_OTHER_EMPLOYER_NOTIFIED: (Step("confirmed", False),),
}


def completion_errors(
    kind: TaskKind, completion: Completion, *, discovered_on: dt.date | None, today: dt.date
) -> list[dict[str, str]]:
    """Every field of ``completion`` the task refuses, by path; empty if none."""
    errors: list[dict[str, str]] = []

    def refuse(path: str, message: str) -> None:
        errors.append({"path": path, "message": message})

    steps = {s.name: s for s in STEPS[kind]}
    if completion.completed_on > today:
        refuse("completed_on", f"{completion.completed_on} is in the future")
    if discovered_on is not None and completion.completed_on < discovered_on:
        refuse("completed_on", f"{completion.completed_on} is before the discovery on {discovered_on}")
    for name in [*completion.steps, *completion.steps_not_taken, *completion.step_roles]:
        if name not in steps:
            refuse(f"steps.{name}", f"{kind} has no step {name}; its steps are {', '.join(steps)}")
    for name, step in steps.items():
        on = completion.steps.get(name)
        not_taken = completion.steps_not_taken.get(name)
        if on is None and not_taken is None:
            why = " or the reason it was not taken (steps_not_taken)" if step.may_be_not_taken else ""
            refuse(f"steps.{name}", f"the date of {name} is required{why}")
        elif on is not None and not_taken is not None:
            refuse(f"steps_not_taken.{name}", f"{name} has a date and a reason it was not taken")
        elif not_taken is not None and not step.may_be_not_taken:
            refuse(f"steps_not_taken.{name}", f"{name} must be taken: the law allows no exception")
        if on is None:
            continue
        if discovered_on is not None and on < discovered_on:
            refuse(f"steps.{name}", f"{on} is before the discovery on {discovered_on}")
        if on > completion.completed_on:
            refuse(f"steps.{name}", f"{on} is after the completion on {completion.completed_on}")
        earlier = completion.steps.get(step.not_before) if step.not_before else None
        if earlier is not None and on < earlier:
            refuse(f"steps.{name}", f"{name} on {on} precedes {step.not_before} on {earlier}")
    return errors


def complete(
    case: IncidentTasks, *, task_id: uuid.UUID, completion: Completion, now: dt.datetime
) -> TaskDecision:
    """Record a task as done (or, where the law allows, its steps as not taken, with why).

    The same completion again gives the same answer and no event; a different one for a task
    already done, or any for a cancelled task, is a conflict carrying the task as it stands.
    """
    task = case.by_id(task_id)
    if task is None:
        raise UnknownTaskError(task_id)
    if task.status is TaskStatus.DONE:
        if task.completion == completion:
            return TaskDecision(case)
        raise TaskStateError("the task was completed already, with another record", task)
    if task.status is TaskStatus.CANCELLED:
        raise TaskStateError(f"the task was cancelled: {task.cancelled_reason}", task)
    return _completed(case, task, completion, today=require_aware(now, "now").astimezone(LONDON).date())


def _completed(case: IncidentTasks, task: Task, completion: Completion, *, today: dt.date) -> TaskDecision:
    errors = completion_errors(task.kind, completion, discovered_on=case.discovered_on, today=today)
    if errors:
        raise InvalidCompletionError(errors)
    done = replace(task, status=TaskStatus.DONE, completion=completion, version=task.version + 1)
    event = TaskCompleted(
        task_id=task.task_id,
        kind=task.kind,
        completed_on=completion.completed_on,
        completed_by_role=completion.completed_by_role,
        outcome=completion.outcome,
        steps=completion.steps,
        step_roles=completion.step_roles,
        steps_not_taken=completion.steps_not_taken,
    )
    return TaskDecision(case.with_task(done), (event,), cancel_timers=(task.kind,))


def similar_incidents_confirmed(
    case: IncidentTasks | None,
    *,
    confirmed_by_role: str,
    confirmed_on: dt.date,
    summary: str,
    edited: bool,
    now: dt.datetime,
) -> TaskDecision | None:
    """``SimilarIncidentsConfirmed`` completes the similar-incidents task (line 234). ``None`` when
    there is no open task to complete: not opened (yet), or done already (a completed task stays as
    it was completed, by whichever route came first)."""
    task = case.task(TaskKind.SIMILAR_INCIDENTS_CONFIRMATION) if case is not None else None
    if case is None or task is None or not task.is_open:
        return None
    how = "edited and confirmed" if edited else "confirmed as proposed"
    completion = Completion(
        completed_on=confirmed_on,
        completed_by_role=confirmed_by_role,
        outcome=f"similar previous incidents {how}: {summary}"[:4000],
        steps={"confirmed": confirmed_on},
    )
    # The confirmation is reporting's record, dated by its clock: not refused for being later than ours.
    today = max(require_aware(now, "now").astimezone(LONDON).date(), confirmed_on)
    return _completed(case, task, completion, today=today)
