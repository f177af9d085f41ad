"""People's tasks on a case: which are owed, their dues, reminders and completion (pure domain).

Each row cites the guidance line (cqc-irmer-notification-guidance-2023.txt) or the reading in
docs/deadlines.md ("Tasks") it holds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

import pytest

from sievert_deadlines.domain import (
    DEFAULT_POLICY,
    DeadlinePolicy,
    TimerNotDueError,
    WindowStatus,
    end_of_day,
)
from sievert_deadlines.domain.tasks import (
    Classification,
    Completion,
    IncidentTasks,
    InvalidCompletionError,
    ReportChange,
    ReportSignal,
    ReportWindow,
    TaskDecision,
    TaskStateError,
    TaskStatus,
    TaskTimer,
    UnknownTaskError,
    add_working_days,
    assign,
    classified,
    complete,
    completion_errors,
    fire_task_timer,
    obligations,
    plan_task_timers,
    report_window_followed,
    similar_incidents_confirmed,
    task_id_for,
)
from sievert_deadlines.domain.timers import TimerKind
from sievert_shared.decision import DecisionStatus, OtherBody
from sievert_shared.events import (
    TaskApproaching,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskKind,
    TaskOpened,
    TaskOverdue,
)

INCIDENT = uuid.UUID("00000000-0000-4000-8000-00000000000a")
DISCOVERED = dt.date(2025, 6, 2)  # a Monday
NOW = dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC)
REPORT_DUE = end_of_day(DISCOVERED + dt.timedelta(days=84))
NOTIFICATION_DUE = end_of_day(DISCOVERED + dt.timedelta(days=14))
TEN_WORKING_DAYS = end_of_day(dt.date(2025, 6, 16))  # Mon 2 June + 10 working days: Mon 16 June

Kind = TaskKind


def decision(
    status: DecisionStatus = DecisionStatus.NOTIFIABLE,
    *,
    csaue: bool = False,
    bodies: tuple[OtherBody, ...] = (),
    codes: tuple[str, ...] = ("2.2",),
) -> Classification:
    return Classification(
        status=status,
        notifiable=status is DecisionStatus.NOTIFIABLE,
        csaue=csaue,
        codes=codes,
        other_bodies=bodies,
    )


CSAUE = decision(csaue=True, codes=("C2.2",))
SAUE = decision()
LOCAL = decision(DecisionStatus.NOT_NOTIFIABLE, codes=())
UNDECIDED = decision(DecisionStatus.UNDECIDED, codes=())
OPEN_REPORT = ReportWindow(WindowStatus.OPEN, REPORT_DUE)


def case(classification: Classification | None = None, report: ReportWindow | None = None) -> IncidentTasks:
    return IncidentTasks(INCIDENT, DISCOVERED, classification, report)


def kinds(events: tuple[object, ...], event_type: type) -> list[TaskKind]:
    return [e.kind for e in events if isinstance(e, event_type)]  # type: ignore[attr-defined]


# -- the rule -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "owed", "released"),
    [
        pytest.param(
            case(CSAUE),
            {
                Kind.DUTY_OF_CANDOUR: TEN_WORKING_DAYS,
                Kind.REGULATION_8_1_INFORM: TEN_WORKING_DAYS,
                Kind.EARLY_INSPECTOR_CONTACT: NOTIFICATION_DUE,
            },
            {Kind.MHRA_REPORT},
            id="line-85-78-221-csaue-owes-duty_of_candour-regulation_8_1-and-early-contact",
        ),
        pytest.param(
            case(SAUE),
            {},
            {
                Kind.DUTY_OF_CANDOUR,
                Kind.REGULATION_8_1_INFORM,
                Kind.MHRA_REPORT,
                Kind.EARLY_INSPECTOR_CONTACT,
            },
            id="line-85-a-saue-that-is-not-clinically-significant-owes-no-duty_of_candour-task",
        ),
        pytest.param(
            case(SAUE, OPEN_REPORT),
            {Kind.SIMILAR_INCIDENTS_CONFIRMATION: REPORT_DUE},
            {
                Kind.DUTY_OF_CANDOUR,
                Kind.REGULATION_8_1_INFORM,
                Kind.MHRA_REPORT,
                Kind.EARLY_INSPECTOR_CONTACT,
            },
            id="line-234-an-open-report-window-owes-the-similar-incidents-task-due-with-the-report",
        ),
        pytest.param(
            case(None, OPEN_REPORT),
            {Kind.SIMILAR_INCIDENTS_CONFIRMATION: REPORT_DUE},
            set(),
            id="line-234-the-report-window-before-the-classification-still-opens-similar-incidents",
        ),
        pytest.param(
            case(SAUE, replace(OPEN_REPORT, status=WindowStatus.MET)),
            {Kind.SIMILAR_INCIDENTS_CONFIRMATION: REPORT_DUE},
            {
                Kind.DUTY_OF_CANDOUR,
                Kind.REGULATION_8_1_INFORM,
                Kind.MHRA_REPORT,
                Kind.EARLY_INSPECTOR_CONTACT,
            },
            id="line-234-a-sent-report-does-not-release-the-similar-incidents-task",
        ),
        pytest.param(
            case(SAUE, replace(OPEN_REPORT, status=WindowStatus.CANCELLED)),
            {},
            {
                Kind.DUTY_OF_CANDOUR,
                Kind.REGULATION_8_1_INFORM,
                Kind.MHRA_REPORT,
                Kind.SIMILAR_INCIDENTS_CONFIRMATION,
                Kind.EARLY_INSPECTOR_CONTACT,
            },
            id="line-234-a-cancelled-report-window-releases-the-similar-incidents-task",
        ),
        pytest.param(
            case(decision(DecisionStatus.NOT_NOTIFIABLE, bodies=(OtherBody.MHRA,), codes=())),
            {Kind.MHRA_REPORT: None},
            {Kind.DUTY_OF_CANDOUR, Kind.REGULATION_8_1_INFORM, Kind.EARLY_INSPECTOR_CONTACT},
            id="line-260-391-a-device-fault-owes-an-mhra-report-even-without-a-saue-and-no-due",
        ),
        pytest.param(
            case(decision(DecisionStatus.UNDECIDED, bodies=(OtherBody.HFS,), codes=())),
            {Kind.MHRA_REPORT: None},
            set(),
            id="line-383-scotland-reports-to-hfs-even-while-the-notification-is-undecided",
        ),
        pytest.param(
            case(decision(bodies=(OtherBody.HSE, OtherBody.NIAIC))),
            {Kind.MHRA_REPORT: None},
            {Kind.DUTY_OF_CANDOUR, Kind.REGULATION_8_1_INFORM, Kind.EARLY_INSPECTOR_CONTACT},
            id="line-387-northern-ireland-reports-to-niaic-and-hse-is-no-task-of-this-kind",
        ),
        pytest.param(
            case(UNDECIDED),
            {},
            set(),
            id="undecided-neither-opens-nor-releases-the-classification-tasks",
        ),
        pytest.param(
            case(SAUE, replace(OPEN_REPORT, at_risk=True)),
            {Kind.SIMILAR_INCIDENTS_CONFIRMATION: REPORT_DUE, Kind.EARLY_INSPECTOR_CONTACT: REPORT_DUE},
            {Kind.DUTY_OF_CANDOUR, Kind.REGULATION_8_1_INFORM, Kind.MHRA_REPORT},
            id="line-221-a-report-at-risk-owes-early-inspector-contact-due-with-the-report",
        ),
        pytest.param(
            case(CSAUE, replace(OPEN_REPORT, status=WindowStatus.MET)),
            {
                Kind.DUTY_OF_CANDOUR: TEN_WORKING_DAYS,
                Kind.REGULATION_8_1_INFORM: TEN_WORKING_DAYS,
                Kind.SIMILAR_INCIDENTS_CONFIRMATION: REPORT_DUE,
            },
            {Kind.MHRA_REPORT, Kind.EARLY_INSPECTOR_CONTACT},
            id="line-221-once-the-report-is-sent-no-early-contact-is-owed-even-for-a-csaue",
        ),
        pytest.param(
            case(LOCAL),
            {},
            {
                Kind.DUTY_OF_CANDOUR,
                Kind.REGULATION_8_1_INFORM,
                Kind.MHRA_REPORT,
                Kind.EARLY_INSPECTOR_CONTACT,
            },
            id="line-223-a-local-investigation-owes-no-task",
        ),
    ],
)
def test_task_rule_owes(
    state: IncidentTasks, owed: dict[TaskKind, dt.datetime | None], released: set[TaskKind]
) -> None:
    duties = obligations(state, DEFAULT_POLICY)
    assert {kind: o.due_at for kind, o in duties.owed.items()} == owed
    assert set(duties.released) == released
    for o in duties.owed.values():
        assert o.guidance_lines and o.reason


def test_duty_of_candour_due_is_the_trusts_policy_in_working_days() -> None:
    policy = DeadlinePolicy(duty_of_candour_working_days=5, regulation_8_1_working_days=20)
    duties = obligations(case(CSAUE), policy)
    # Mon 2 June + 5 working days: Mon 9 June; + 20: Mon 30 June (weekends skipped)
    assert duties.owed[Kind.DUTY_OF_CANDOUR].due_at == end_of_day(dt.date(2025, 6, 9))
    assert duties.owed[Kind.REGULATION_8_1_INFORM].due_at == end_of_day(dt.date(2025, 6, 30))


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        pytest.param(dt.date(2025, 6, 2), 1, dt.date(2025, 6, 3), id="monday-plus-one"),
        pytest.param(dt.date(2025, 6, 6), 1, dt.date(2025, 6, 9), id="friday-plus-one-is-monday"),
        pytest.param(dt.date(2025, 6, 7), 1, dt.date(2025, 6, 9), id="saturday-plus-one-is-monday"),
        pytest.param(dt.date(2025, 6, 2), 10, dt.date(2025, 6, 16), id="ten-working-days-is-two-weeks"),
        pytest.param(dt.date(2025, 12, 24), 3, dt.date(2025, 12, 29), id="bank-holidays-count-as-working"),
    ],
)
def test_task_working_days(start: dt.date, days: int, expected: dt.date) -> None:
    assert add_working_days(start, days) == expected


# -- transitions ----------------------------------------------------------------------------------


def apply_classification(
    state: IncidentTasks | None, c: Classification, now: dt.datetime = NOW
) -> TaskDecision:
    return classified(
        state,
        incident_id=INCIDENT,
        classification=c,
        discovered_on=DISCOVERED,
        policy=DEFAULT_POLICY,
        now=now,
    )


def report(
    state: IncidentTasks | None,
    change: ReportChange,
    *,
    due_at: dt.datetime = REPORT_DUE,
    days_left: int | None = None,
    discovered_on: dt.date | None = None,
    now: dt.datetime = NOW,
) -> TaskDecision:
    signal = ReportSignal(change, due_at, days_left=days_left, discovered_on=discovered_on)
    return report_window_followed(
        state, incident_id=INCIDENT, signals=[signal], policy=DEFAULT_POLICY, now=now
    )


def test_task_ids_are_uuid5_of_the_incident_and_kind() -> None:
    opened = apply_classification(None, CSAUE)
    ids = {e.kind: e.task_id for e in opened.events if isinstance(e, TaskOpened)}
    assert (
        ids[Kind.DUTY_OF_CANDOUR]
        == uuid.uuid5(INCIDENT, "duty_of_candour")
        == task_id_for(INCIDENT, Kind.DUTY_OF_CANDOUR)
    )


def test_task_a_csaue_opens_its_tasks_with_timers_and_a_redelivery_changes_nothing() -> None:
    first = apply_classification(None, CSAUE)
    assert kinds(first.events, TaskOpened) == [
        Kind.DUTY_OF_CANDOUR,
        Kind.REGULATION_8_1_INFORM,
        Kind.EARLY_INSPECTOR_CONTACT,
    ]
    # reminders 3 and 1 days before, then the due, for each of the three
    assert len(first.schedule_timers) == 9
    assert all(t.fire_at > NOW for t in first.schedule_timers)
    again = apply_classification(first.tasks, CSAUE)
    assert again.events == () and again.schedule_timers == () and again.tasks == first.tasks


@pytest.mark.parametrize(
    ("second", "cancelled", "opened"),
    [
        pytest.param(
            SAUE,
            [Kind.DUTY_OF_CANDOUR, Kind.REGULATION_8_1_INFORM, Kind.EARLY_INSPECTOR_CONTACT],
            [],
            id="line-85-no-longer-a-csaue-cancels-duty_of_candour-and-regulation_8_1-tasks",
        ),
        pytest.param(
            UNDECIDED, [], [], id="undecided-keeps-the-duty_of_candour-task-open-until-the-decision-settles"
        ),
        pytest.param(
            decision(csaue=True, bodies=(OtherBody.MHRA,), codes=("EC2.2",)),
            [],
            [Kind.MHRA_REPORT],
            id="line-260-an-equipment-fault-found-later-opens-the-mhra-task",
        ),
    ],
)
def test_task_reclassification(
    second: Classification, cancelled: list[TaskKind], opened: list[TaskKind]
) -> None:
    first = apply_classification(None, CSAUE)
    after = apply_classification(first.tasks, second)
    assert kinds(after.events, TaskCancelled) == cancelled
    assert kinds(after.events, TaskOpened) == opened
    assert set(after.cancel_timers) >= set(cancelled)
    for event in after.events:
        if isinstance(event, TaskCancelled):
            assert event.reason


def test_task_a_completed_task_stays_completed_and_a_cancelled_one_opens_again() -> None:
    first = apply_classification(None, CSAUE)
    doc = task_id_for(INCIDENT, Kind.DUTY_OF_CANDOUR)
    done = complete(first.tasks, task_id=doc, completion=candour(), now=NOW + dt.timedelta(days=3))
    saue = apply_classification(done.tasks, SAUE)
    assert kinds(saue.events, TaskCancelled) == [Kind.REGULATION_8_1_INFORM, Kind.EARLY_INSPECTOR_CONTACT]
    back = apply_classification(saue.tasks, CSAUE)
    assert kinds(back.events, TaskOpened) == [Kind.REGULATION_8_1_INFORM, Kind.EARLY_INSPECTOR_CONTACT]
    reopened = back.tasks.task(Kind.REGULATION_8_1_INFORM)
    assert reopened is not None and reopened.status is TaskStatus.OPEN and reopened.version == 3
    assert back.tasks.task(Kind.DUTY_OF_CANDOUR).status is TaskStatus.DONE  # type: ignore[union-attr]


def test_task_a_late_classification_is_overdue_at_once_and_only_once() -> None:
    late = dt.datetime(2025, 7, 1, 9, 0, tzinfo=dt.UTC)  # past the 10 working days and the 2 weeks
    opened = apply_classification(None, CSAUE, now=late)
    overdue = kinds(opened.events, TaskOverdue)
    assert overdue == [Kind.DUTY_OF_CANDOUR, Kind.REGULATION_8_1_INFORM, Kind.EARLY_INSPECTOR_CONTACT]
    assert kinds(opened.events, TaskApproaching) == []  # stale reminders stay silent
    assert opened.schedule_timers == ()


def test_similar_incidents_task_follows_the_report_window() -> None:
    opened = report(None, ReportChange.SCHEDULED, discovered_on=DISCOVERED)
    assert kinds(opened.events, TaskOpened) == [Kind.SIMILAR_INCIDENTS_CONFIRMATION]
    extended_due = end_of_day(dt.date(2025, 9, 30))
    moved = report(opened.tasks, ReportChange.EXTENDED, due_at=extended_due)
    assert [(e.kind, e.due_at) for e in moved.events if isinstance(e, TaskOpened)] == [
        (Kind.SIMILAR_INCIDENTS_CONFIRMATION, extended_due)
    ]
    assert moved.cancel_timers == (Kind.SIMILAR_INCIDENTS_CONFIRMATION,)
    assert {t.due_at for t in moved.schedule_timers} == {extended_due}
    cancelled = report(moved.tasks, ReportChange.CANCELLED, due_at=extended_due)
    assert kinds(cancelled.events, TaskCancelled) == [Kind.SIMILAR_INCIDENTS_CONFIRMATION]


@pytest.mark.parametrize(
    ("change", "days_left", "opens"),
    [
        pytest.param(ReportChange.REMINDED, 28, False, id="line-221-four-weeks-left-is-not-at-risk"),
        pytest.param(
            ReportChange.REMINDED, 14, True, id="line-221-two-weeks-left-without-a-report-is-at-risk"
        ),
        pytest.param(ReportChange.MISSED, None, True, id="line-221-a-missed-report-is-at-risk"),
    ],
)
def test_task_early_inspector_contact_when_the_report_is_at_risk(
    change: ReportChange, days_left: int | None, opens: bool
) -> None:
    scheduled = report(apply_classification(None, SAUE).tasks, ReportChange.SCHEDULED)
    later = REPORT_DUE - dt.timedelta(days=days_left or 0)
    after = report(scheduled.tasks, change, days_left=days_left, now=later)
    assert (Kind.EARLY_INSPECTOR_CONTACT in kinds(after.events, TaskOpened)) is opens
    if opens:
        met = report(after.tasks, ReportChange.MET, now=later)
        assert kinds(met.events, TaskCancelled) == [Kind.EARLY_INSPECTOR_CONTACT]


def test_task_a_reminder_for_a_due_the_report_no_longer_has_changes_nothing() -> None:
    scheduled = report(apply_classification(None, SAUE).tasks, ReportChange.SCHEDULED)
    stale = report(scheduled.tasks, ReportChange.REMINDED, due_at=NOTIFICATION_DUE, days_left=1)
    assert stale.events == () and stale.tasks == scheduled.tasks


# -- timers ---------------------------------------------------------------------------------------


def doc_case() -> tuple[IncidentTasks, tuple[TaskTimer, ...]]:
    opened = apply_classification(None, CSAUE)
    return opened.tasks, opened.schedule_timers


def test_task_timers_remind_then_go_overdue_once_never_early() -> None:
    state, _ = doc_case()
    task = state.task(Kind.DUTY_OF_CANDOUR)
    assert task is not None
    reminder3, reminder1, due = plan_task_timers(INCIDENT, task, DEFAULT_POLICY)
    assert (reminder3.days_before, reminder1.days_before, due.kind) == (3, 1, TimerKind.DUE)
    with pytest.raises(TimerNotDueError):
        fire_task_timer(reminder3, state, DEFAULT_POLICY, reminder3.fire_at - dt.timedelta(seconds=1))
    (approaching,) = fire_task_timer(reminder3, state, DEFAULT_POLICY, reminder3.fire_at)
    assert isinstance(approaching, TaskApproaching) and approaching.reminder == "P3D"
    # claimed late, after the 1-day reminder's instant: the 3-day one is stale and silent
    assert fire_task_timer(reminder3, state, DEFAULT_POLICY, reminder1.fire_at) == ()
    (overdue,) = fire_task_timer(due, state, DEFAULT_POLICY, due.fire_at + dt.timedelta(days=30))
    assert isinstance(overdue, TaskOverdue) and overdue.due_at == task.due_at


def test_task_timers_of_a_done_or_moved_task_fire_nothing() -> None:
    state, timers = doc_case()
    due = next(t for t in timers if t.task_kind is Kind.DUTY_OF_CANDOUR and t.kind is TimerKind.DUE)
    done = complete(state, task_id=task_id_for(INCIDENT, Kind.DUTY_OF_CANDOUR), completion=candour(), now=NOW)
    assert done.cancel_timers == (Kind.DUTY_OF_CANDOUR,)
    assert fire_task_timer(due, done.tasks, DEFAULT_POLICY, due.fire_at) == ()
    moved = replace(due, due_at=due.due_at - dt.timedelta(days=1))
    assert fire_task_timer(moved, state, DEFAULT_POLICY, due.fire_at) == ()


# -- people's commands ----------------------------------------------------------------------------


def candour(**changes: object) -> Completion:
    base = Completion(
        completed_on=dt.date(2025, 6, 3),
        completed_by_role="Consultant radiologist",
        outcome="Patient told in person, apology given, letter sent.",
        steps={
            "told_patient": dt.date(2025, 6, 3),
            "apologised": dt.date(2025, 6, 3),
            "written_follow_up": dt.date(2025, 6, 3),
        },
        step_roles={"written_follow_up": "Governance lead"},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def informed(**changes: object) -> Completion:
    base = Completion(
        completed_on=dt.date(2025, 6, 3),
        completed_by_role="RPA",
        outcome="Referrer and practitioner informed; patient not told for clinical reasons.",
        steps={"informed_referrer": dt.date(2025, 6, 3), "informed_practitioner": dt.date(2025, 6, 3)},
        steps_not_taken={"informed_patient": "clinical reasons: told at the next clinic review"},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


TODAY = dt.date(2025, 6, 3)


@pytest.mark.parametrize(
    ("kind", "completion", "paths"),
    [
        pytest.param(Kind.DUTY_OF_CANDOUR, candour(), [], id="line-85-duty_of_candour-every-step-dated"),
        pytest.param(
            Kind.DUTY_OF_CANDOUR,
            candour(steps={"apologised": TODAY, "written_follow_up": TODAY}),
            ["steps.told_patient"],
            id="line-85-duty_of_candour-without-the-date-the-patient-was-told",
        ),
        pytest.param(
            Kind.DUTY_OF_CANDOUR,
            candour(
                steps={"apologised": TODAY},
                steps_not_taken={
                    "told_patient": "could not be contacted: three attempts recorded",
                    "written_follow_up": "could not be contacted",
                },
            ),
            [],
            id="duty_of_candour-regulation-20-5-a-person-who-cannot-be-contacted-is-recorded",
        ),
        pytest.param(
            Kind.DUTY_OF_CANDOUR,
            candour(steps={**candour().steps, "told_patient": dt.date(2025, 5, 30)}),
            ["steps.told_patient"],
            id="duty_of_candour-a-step-before-discovery",
        ),
        pytest.param(
            Kind.DUTY_OF_CANDOUR,
            candour(steps={**candour().steps, "written_follow_up": DISCOVERED}),
            ["steps.written_follow_up"],
            id="duty_of_candour-the-written-follow-up-cannot-precede-telling-the-patient",
        ),
        pytest.param(
            Kind.DUTY_OF_CANDOUR,
            candour(completed_on=dt.date(2025, 5, 1), steps={}),
            ["completed_on", "steps.told_patient", "steps.apologised", "steps.written_follow_up"],
            id="duty_of_candour-completed-before-discovery-names-every-field",
        ),
        pytest.param(
            Kind.DUTY_OF_CANDOUR,
            candour(completed_on=dt.date(2025, 6, 4)),
            ["completed_on"],
            id="task-completed-in-the-future",
        ),
        pytest.param(
            Kind.REGULATION_8_1_INFORM, informed(), [], id="line-78-regulation_8_1-patient-not-told-with-why"
        ),
        pytest.param(
            Kind.REGULATION_8_1_INFORM,
            informed(steps_not_taken={}),
            ["steps.informed_patient"],
            id="line-78-regulation_8_1-the-patient-step-needs-a-date-or-why-not",
        ),
        pytest.param(
            Kind.REGULATION_8_1_INFORM,
            informed(
                steps={"informed_practitioner": TODAY},
                steps_not_taken={"informed_referrer": "busy", "informed_patient": "clinical reasons"},
            ),
            ["steps_not_taken.informed_referrer"],
            id="line-78-regulation_8_1-the-referrer-is-always-informed",
        ),
        pytest.param(
            Kind.SIMILAR_INCIDENTS_CONFIRMATION,
            Completion(TODAY, "RPA", "confirmed", steps={"confirmed": TODAY, "checked": TODAY}),
            ["steps.checked"],
            id="line-234-an-unknown-step-is-named",
        ),
    ],
)
def test_task_completion_fields(kind: TaskKind, completion: Completion, paths: list[str]) -> None:
    errors = completion_errors(kind, completion, discovered_on=DISCOVERED, today=TODAY)
    assert [e["path"] for e in errors] == paths


def test_duty_of_candour_completing_twice_gives_one_event_and_another_record_is_a_conflict() -> None:
    state, _ = doc_case()
    task_id = task_id_for(INCIDENT, Kind.DUTY_OF_CANDOUR)
    done = complete(state, task_id=task_id, completion=candour(), now=NOW)
    (event,) = done.events
    assert isinstance(event, TaskCompleted)
    assert event.steps["told_patient"] == dt.date(2025, 6, 3)
    assert event.step_roles == {"written_follow_up": "Governance lead"}
    again = complete(done.tasks, task_id=task_id, completion=candour(), now=NOW)
    assert again.events == () and again.tasks == done.tasks
    with pytest.raises(TaskStateError) as conflict:
        complete(done.tasks, task_id=task_id, completion=candour(outcome="Something else."), now=NOW)
    assert conflict.value.extra["task"]["status"] == "done"
    assert conflict.value.extra["current_version"] == 2


def test_duty_of_candour_completion_refused_names_the_field() -> None:
    state, _ = doc_case()
    with pytest.raises(InvalidCompletionError) as refused:
        complete(
            state,
            task_id=task_id_for(INCIDENT, Kind.DUTY_OF_CANDOUR),
            completion=candour(steps={"apologised": TODAY, "written_follow_up": TODAY}),
            now=NOW,
        )
    assert refused.value.extra["errors"][0]["path"] == "steps.told_patient"


def test_task_assign_is_idempotent_and_versioned() -> None:
    state, _ = doc_case()
    task_id = task_id_for(INCIDENT, Kind.DUTY_OF_CANDOUR)
    assigned = assign(
        state, task_id=task_id, owner_role="Consultant", assigned_by_role="RP lead", expected_version=1
    )
    assert [type(e) for e in assigned.events] == [TaskAssigned]
    same = assign(assigned.tasks, task_id=task_id, owner_role="Consultant", assigned_by_role="RP lead")
    assert same.events == ()
    with pytest.raises(TaskStateError):
        assign(
            assigned.tasks, task_id=task_id, owner_role="RPA", assigned_by_role="RP lead", expected_version=1
        )
    with pytest.raises(UnknownTaskError):
        assign(state, task_id=uuid.uuid4(), owner_role="RPA", assigned_by_role="RP lead")


def test_a_cancelled_task_cannot_be_completed() -> None:
    state, _ = doc_case()
    cancelled = apply_classification(state, SAUE).tasks
    with pytest.raises(TaskStateError):
        complete(
            cancelled, task_id=task_id_for(INCIDENT, Kind.DUTY_OF_CANDOUR), completion=candour(), now=NOW
        )


def test_similar_incidents_confirmed_completes_the_task_once() -> None:
    opened = report(None, ReportChange.SCHEDULED, discovered_on=DISCOVERED)
    confirmed = similar_incidents_confirmed(
        opened.tasks,
        confirmed_by_role="RPA",
        confirmed_on=TODAY,
        summary="None in 5 years.",
        edited=True,
        now=NOW,
    )
    assert confirmed is not None
    (event,) = confirmed.events
    assert isinstance(event, TaskCompleted)
    assert event.kind is Kind.SIMILAR_INCIDENTS_CONFIRMATION
    assert event.steps == {"confirmed": TODAY}
    assert "edited and confirmed" in event.outcome
    again = similar_incidents_confirmed(
        confirmed.tasks, confirmed_by_role="RPA", confirmed_on=TODAY, summary="Other.", edited=False, now=NOW
    )
    assert again is None
    assert (
        similar_incidents_confirmed(
            None, confirmed_by_role="RPA", confirmed_on=TODAY, summary="x", edited=False, now=NOW
        )
        is None
    )


def test_task_one_windows_transition_is_followed_whole_then_reconciled_once() -> None:
    # found notifiable after the report's 12 weeks: the windows emit Scheduled then Missed for the
    # report in one decision (line 221): similar incidents and early contact open, overdue at once
    late = REPORT_DUE + dt.timedelta(days=2)
    followed = report_window_followed(
        apply_classification(None, SAUE, now=late).tasks,
        incident_id=INCIDENT,
        signals=[
            ReportSignal(ReportChange.SCHEDULED, REPORT_DUE, discovered_on=DISCOVERED),
            ReportSignal(ReportChange.MISSED, REPORT_DUE),
        ],
        policy=DEFAULT_POLICY,
        now=late,
    )
    assert kinds(followed.events, TaskOpened) == [
        Kind.SIMILAR_INCIDENTS_CONFIRMATION,
        Kind.EARLY_INSPECTOR_CONTACT,
    ]
    assert kinds(followed.events, TaskOverdue) == [
        Kind.SIMILAR_INCIDENTS_CONFIRMATION,
        Kind.EARLY_INSPECTOR_CONTACT,
    ]
    assert followed.schedule_timers == ()


def test_task_a_case_from_before_tasks_were_kept_opens_them_at_the_report_reminder() -> None:
    reminded = report(None, ReportChange.REMINDED, days_left=28)
    assert kinds(reminded.events, TaskOpened) == [Kind.SIMILAR_INCIDENTS_CONFIRMATION]
    assert reminded.tasks.report == ReportWindow(WindowStatus.OPEN, REPORT_DUE, at_risk=False)
