"""People's tasks as the console reads and completes them, and in the work queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sievert_console.domain.queue import QueueFilter, Show, build_queue
from sievert_console.domain.tasks import KINDS, STEPS, Task, completion_body, completion_errors, sort_key
from sievert_shared.events import TaskKind

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def task(**changes: Any) -> dict[str, Any]:
    """One task as deadlines' ``GET /v1/tasks`` answers it."""
    base: dict[str, Any] = {
        "incident_id": "i-1",
        "trust": "RXX",
        "site": "RXX01",
        "task_id": "t-1",
        "kind": "duty_of_candour",
        "status": "open",
        "version": 1,
        "reason": "a CSAUE",
        "guidance_lines": [85, 235],
        "due_at": "2026-03-14T00:00:00+00:00",
        "owner_role": None,
        "completion": None,
        "cancelled_reason": None,
    }
    return {**base, **changes}


def test_every_task_kind_has_words_and_steps() -> None:
    assert set(KINDS) == {k.value for k in TaskKind}
    assert set(STEPS) == {k.value for k in TaskKind}


@pytest.mark.parametrize(
    ("api", "text"),
    [
        pytest.param(task(), "Due by the end of Fri 13 Mar 2026 — 3 days left", id="due"),
        pytest.param(
            task(due_at="2026-03-08T00:00:00+00:00"),
            "Overdue by 2 days (last day was Sat 7 Mar 2026)",
            id="overdue",
        ),
        pytest.param(
            task(kind="mhra_report", due_at=None), "No date set: the guidance gives none", id="no-due"
        ),
        pytest.param(task(status="done"), "Was due by the end of Fri 13 Mar 2026", id="done"),
    ],
)
def test_a_task_says_when_it_is_due(api: dict[str, Any], text: str) -> None:
    assert Task.from_api(api).due_text(NOW) == text


def test_open_tasks_first_soonest_due_first_undated_last() -> None:
    tasks = [
        Task.from_api(task(task_id="done", status="done", due_at="2026-03-11T00:00:00+00:00")),
        Task.from_api(task(task_id="undated", kind="mhra_report", due_at=None)),
        Task.from_api(task(task_id="later", due_at="2026-03-20T00:00:00+00:00")),
        Task.from_api(task(task_id="sooner", due_at="2026-03-12T00:00:00+00:00")),
    ]
    assert [t.task_id for t in sorted(tasks, key=sort_key)] == ["sooner", "later", "undated", "done"]


def test_the_completion_form_is_sent_as_the_deadlines_service_takes_it() -> None:
    duty = Task.from_api(task())
    form = {
        "step:told_patient": "2026-03-09",
        "not_taken:told_patient": "",
        "step:apologised": "2026-03-09",
        "step:written_follow_up": "",
        "not_taken:written_follow_up": " declined a letter ",
        "outcome": "Told and apologised in clinic.",
        "completed_on": "",
    }
    body = completion_body(form, duty, "RP lead")
    assert body == {
        "completed_by_role": "RP lead",
        "outcome": "Told and apologised in clinic.",
        "steps": {"told_patient": "2026-03-09", "apologised": "2026-03-09"},
        "steps_not_taken": {"written_follow_up": "declined a letter"},
    }  # completed_on left out: the service takes today


def test_the_services_refusals_are_placed_beside_the_form_fields() -> None:
    errors = [
        {"path": "steps.written_follow_up", "message": "the date is required"},
        {"path": "steps_not_taken.informed_referrer", "message": "must be taken"},
        {"path": "body/steps/told_patient", "message": "invalid date"},
        {"path": "body/outcome", "message": "at least 1 character"},
        {"path": "completed_on", "message": "in the future"},
        {"path": "body/unknown", "message": "extra"},
    ]
    by_field, general = completion_errors(errors)
    assert by_field == {
        "step:written_follow_up": "the date is required",
        "not_taken:informed_referrer": "must be taken",
        "step:told_patient": "invalid date",
        "outcome": "at least 1 character",
        "completed_on": "in the future",
    }
    assert general == ["unknown: extra"]


def test_the_queue_lists_cases_with_open_tasks_as_a_group_by_the_task_due() -> None:
    windows = [
        {
            "incident_id": "with-clock",
            "window": "notification",
            "trust": "RXX",
            "site": "RXX01",
            "status": "open",
            "due_at": (NOW + dt.timedelta(days=1)).isoformat(),
            "authority": "cqc",
        }
    ]
    tasks = [
        task(incident_id="with-clock", task_id="a", due_at=(NOW + dt.timedelta(days=9)).isoformat()),
        task(incident_id="tasks-only", task_id="b", due_at=(NOW + dt.timedelta(days=4)).isoformat()),
        task(incident_id="undated", task_id="c", kind="mhra_report", due_at=None),
        task(incident_id="closed-task", task_id="d", status="done"),
        task(
            incident_id="elsewhere",
            task_id="e",
            site="RXX02",
            due_at=(NOW + dt.timedelta(days=6)).isoformat(),
        ),
    ]
    queue = build_queue([], windows, {}, where=QueueFilter(), now=NOW, tasks=tasks)
    assert [r.incident_id for r in queue.rows] == ["with-clock", "tasks-only", "elsewhere", "undated"]
    assert queue.counts[Show.TASKS] == 4
    only_tasks = next(r for r in queue.rows if r.incident_id == "tasks-only")
    assert only_tasks.state(NOW) is Show.TASKS

    group = build_queue([], windows, {}, where=QueueFilter(show=Show.TASKS), now=NOW, tasks=tasks)
    assert [r.incident_id for r in group.rows] == ["tasks-only", "elsewhere", "with-clock", "undated"]
    one_site = build_queue(
        [], windows, {}, where=QueueFilter(site="RXX01", show=Show.TASKS), now=NOW, tasks=tasks
    )
    assert "elsewhere" not in [r.incident_id for r in one_site.rows]
