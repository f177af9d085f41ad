"""Several employers: the task the reporting trust owes (inform the others when it notifies, or
confirm the other employer's notification when that one does), by the decision's ``employers``
reason, reconciled and completed with the tasks' machinery (docs/deadlines.md, "Tasks")."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from sievert_classifier.domain.classify import classify  # the decision as the classifier makes it
from sievert_deadlines.domain import DEFAULT_POLICY, DeadlinePolicy, end_of_day
from sievert_deadlines.domain.tasks import (
    Classification,
    Completion,
    EmployerDuty,
    IncidentTasks,
    InvalidCompletionError,
    classified,
    complete,
    obligations,
    task_id_for,
)
from sievert_deadlines.service_layer.tasks import employer_duty
from sievert_shared.decision import ClassificationDecision, DecisionStatus
from sievert_shared.events import TaskCancelled, TaskKind, TaskOpened
from sievert_shared.facts import IncidentFacts

INCIDENT = uuid.UUID("00000000-0000-0000-0000-0000000000e5")
DISCOVERED = dt.date(2025, 6, 2)  # a Monday
NOW = dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC)
NOTIFICATION_DUE = end_of_day(DISCOVERED + dt.timedelta(days=14))
FIVE_WORKING_DAYS = end_of_day(dt.date(2025, 6, 9))
INFORM, CONFIRM = TaskKind.INFORM_OTHER_EMPLOYERS, TaskKind.CONFIRM_OTHER_EMPLOYER_NOTIFIED
WE_NOTIFY = EmployerDuty("Riverside NHS Trust", this_trust_notifies=True)
THEY_NOTIFY = EmployerDuty("Hillside NHS Foundation Trust", this_trust_notifies=False)


def decision(status: DecisionStatus, employers: EmployerDuty | None) -> Classification:
    notifiable = status is DecisionStatus.NOTIFIABLE
    return Classification(status, notifiable, False, ("2.2",) if notifiable else (), (), employers)


def case(classification: Classification) -> IncidentTasks:
    return IncidentTasks(INCIDENT, DISCOVERED, classification)


@pytest.mark.parametrize(
    ("classification", "owed", "released"),
    [
        pytest.param(
            decision(DecisionStatus.NOTIFIABLE, WE_NOTIFY),
            {INFORM: FIVE_WORKING_DAYS},
            set(),
            id="we-notify-inform-the-others",
        ),
        pytest.param(
            decision(DecisionStatus.NOTIFIABLE, THEY_NOTIFY),
            {CONFIRM: NOTIFICATION_DUE},
            set(),
            id="they-notify-confirm-by-the-2-weeks-line-219",
        ),
        pytest.param(decision(DecisionStatus.NOTIFIABLE, None), {}, set(), id="one-employer-owes-neither"),
        pytest.param(decision(DecisionStatus.UNDECIDED, THEY_NOTIFY), {}, set(), id="undecided-waits"),
        pytest.param(
            decision(DecisionStatus.NOT_NOTIFIABLE, WE_NOTIFY), {}, set(), id="not-notifiable-owes-neither"
        ),
    ],
)
def test_several_employers_task_owed(
    classification: Classification, owed: dict[TaskKind, dt.datetime], released: set[TaskKind]
) -> None:
    duties = obligations(case(classification), DEFAULT_POLICY)
    employer_tasks = {k: o for k, o in duties.owed.items() if k in (INFORM, CONFIRM)}
    assert {k: o.due_at for k, o in employer_tasks.items()} == owed
    assert {k for k in duties.released if k in (INFORM, CONFIRM)} == released
    for o in employer_tasks.values():
        assert o.reason and o.guidance_lines


def test_several_employers_inform_due_is_the_trusts_policy() -> None:
    policy = DeadlinePolicy(inform_other_employers_working_days=3)
    duties = obligations(case(decision(DecisionStatus.NOTIFIABLE, WE_NOTIFY)), policy)
    assert duties.owed[INFORM].due_at == end_of_day(dt.date(2025, 6, 5))  # Mon + 3 working days
    with pytest.raises(ValueError, match="working days"):
        DeadlinePolicy(inform_other_employers_working_days=0)


def test_several_employers_task_follows_a_new_notifier_and_its_release() -> None:
    def apply(
        state: IncidentTasks | None, duty: EmployerDuty | None, status: DecisionStatus
    ) -> tuple[IncidentTasks, list[object]]:
        result = classified(
            state,
            incident_id=INCIDENT,
            classification=decision(status, duty),
            discovered_on=DISCOVERED,
            policy=DEFAULT_POLICY,
            now=NOW,
        )
        return result.tasks, list(result.events)

    tasks, events = apply(None, THEY_NOTIFY, DecisionStatus.NOTIFIABLE)
    assert [(type(e), e.kind) for e in events] == [(TaskOpened, CONFIRM)]  # type: ignore[attr-defined]
    assert events[0].task_id == task_id_for(INCIDENT, CONFIRM)  # type: ignore[attr-defined]
    again, none = apply(tasks, THEY_NOTIFY, DecisionStatus.NOTIFIABLE)
    assert none == [] and again == tasks  # a redelivery changes nothing
    tasks, events = apply(tasks, WE_NOTIFY, DecisionStatus.NOTIFIABLE)
    assert [(type(e), e.kind) for e in events] == [(TaskOpened, INFORM), (TaskCancelled, CONFIRM)]  # type: ignore[attr-defined]
    tasks, events = apply(tasks, None, DecisionStatus.NOTIFIABLE)
    assert [(type(e), e.kind) for e in events] == [(TaskCancelled, INFORM)]  # type: ignore[attr-defined]
    assert "no other employer" in events[0].reason  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "steps", "errors"),
    [
        pytest.param(INFORM, {"informed": dt.date(2025, 6, 3)}, [], id="inform-dated"),
        pytest.param(INFORM, {}, ["steps.informed"], id="inform-needs-its-date"),
        pytest.param(CONFIRM, {"confirmed": dt.date(2025, 6, 3)}, [], id="confirm-dated"),
        pytest.param(
            CONFIRM,
            {"confirmed": dt.date(2025, 5, 1)},
            ["steps.confirmed"],
            id="confirm-not-before-discovery",
        ),
    ],
)
def test_several_employers_task_completion(
    kind: TaskKind, steps: dict[str, dt.date], errors: list[str]
) -> None:
    duty = WE_NOTIFY if kind is INFORM else THEY_NOTIFY
    opened = classified(
        None,
        incident_id=INCIDENT,
        classification=decision(DecisionStatus.NOTIFIABLE, duty),
        discovered_on=DISCOVERED,
        policy=DEFAULT_POLICY,
        now=NOW,
    ).tasks
    record = Completion(dt.date(2025, 6, 3), "RPA", "done, reference IRMER/2025/1", steps=steps)
    if not errors:
        done = complete(opened, task_id=task_id_for(INCIDENT, kind), completion=record, now=NOW)
        assert done.tasks.task(kind).completion == record  # type: ignore[union-attr]
        return
    with pytest.raises(InvalidCompletionError) as caught:
        complete(opened, task_id=task_id_for(INCIDENT, kind), completion=record, now=NOW)
    assert [e["path"] for e in caught.value.extra["errors"]] == errors


def _decision_naming(notifier: str | None) -> ClassificationDecision:
    x = {
        "name": "Riverside NHS Trust",
        "trust_code": "RXX",
        "role": "referring",
        "notifies": notifier == "RXX",
    }
    y = {
        "name": "Hillside NHS Foundation Trust",
        "trust_code": "RYY",
        "role": "performing",
        "notifies": notifier == "RYY",
    }
    facts = {
        "nation": "england",
        "discovered_on": "2025-06-02",
        "exposure_kind": "unintended",
        "modality": "ct",
    }
    employers = [x, y] if notifier else None
    return classify(IncidentFacts.model_validate({**facts, "employers": employers}), reporting_trust="RXX")


@pytest.mark.parametrize(
    ("notifier", "trust", "expected"),
    [
        pytest.param("RXX", "RXX", WE_NOTIFY, id="the-case-trust-notifies"),
        pytest.param("RYY", "RXX", THEY_NOTIFY, id="another-trust-notifies"),
        pytest.param(None, "RXX", None, id="no-employers-named"),
    ],
)
def test_several_employers_duty_read_from_the_decision(
    notifier: str | None, trust: str, expected: EmployerDuty | None
) -> None:
    assert employer_duty(_decision_naming(notifier), trust) == expected
