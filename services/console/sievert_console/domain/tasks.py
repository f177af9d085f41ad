"""People's tasks on a case as a person reads and completes them: the duty of candour, informing
under Regulation 8(1), confirming similar incidents, the device report, early contact with the
inspector (docs/deadlines.md, "Tasks").

Input is a task as the deadlines service answers it (``GET /v1/incidents/{id}/tasks``,
``GET /v1/tasks``). The steps each kind records are the deadlines service's; the console only
words them and builds the completion form. The service decides what it accepts (a step missing,
a date before discovery, a step the law requires recorded as not taken) and names the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sievert_console.domain.clocks import LONDON, days_phrase, format_day
from sievert_console.domain.labels import label


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    #: the law allows it not to be taken, with the reason recorded (else a date is required)
    may_be_not_taken: bool


KINDS: Mapping[str, str] = {
    "duty_of_candour": "Duty of candour",
    "regulation_8_1_inform": "Inform under Regulation 8(1)",
    "similar_incidents_confirmation": "Confirm the similar incidents",
    "mhra_report": "Report to the device regulator (MHRA, HFS or NIAIC)",
    "early_inspector_contact": "Contact the inspector early",
    "inform_other_employers": "Inform the other employer(s)",
    "confirm_other_employer_notified": "Confirm the other employer has notified",
}

STATUSES: Mapping[str, str] = {"open": "Open", "done": "Done", "cancelled": "Cancelled"}

STEPS: Mapping[str, tuple[Step, ...]] = {
    "duty_of_candour": (
        Step("told_patient", "Told the patient (or their representative) in person", True),
        Step("apologised", "Apologised", True),
        Step("written_follow_up", "Followed up in writing", True),
    ),
    "regulation_8_1_inform": (
        Step("informed_referrer", "Informed the referrer", False),
        Step("informed_practitioner", "Informed the practitioner", False),
        Step("informed_patient", "Informed the patient or their representative", True),
    ),
    "similar_incidents_confirmation": (Step("confirmed", "Confirmed", False),),
    "mhra_report": (Step("reported", "Reported", True),),
    "early_inspector_contact": (Step("contacted", "Contacted the inspector", True),),
    "inform_other_employers": (Step("informed", "Informed the other employer(s)", False),),
    "confirm_other_employer_notified": (
        Step("confirmed", "Confirmed the other employer's notification", False),
    ),
}


def _instant(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(value)) if value else None


@dataclass(frozen=True)
class Task:
    task_id: str
    incident_id: str
    kind: str
    status: str
    version: int
    reason: str
    guidance_lines: tuple[int, ...]
    due_at: dt.datetime | None
    owner_role: str | None
    completion: Mapping[str, Any] | None
    cancelled_reason: str | None

    @classmethod
    def from_api(cls, task: Mapping[str, Any]) -> Task:
        return cls(
            task_id=str(task["task_id"]),
            incident_id=str(task.get("incident_id", "")),
            kind=str(task["kind"]),
            status=str(task.get("status") or "open"),
            version=int(task.get("version") or 0),
            reason=str(task.get("reason") or ""),
            guidance_lines=tuple(int(n) for n in task.get("guidance_lines") or ()),
            due_at=_instant(task.get("due_at")),
            owner_role=task.get("owner_role"),
            completion=task.get("completion"),
            cancelled_reason=task.get("cancelled_reason"),
        )

    @property
    def name(self) -> str:
        return label(KINDS, self.kind)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def steps(self) -> tuple[Step, ...]:
        return STEPS.get(self.kind, ())

    def overdue(self, now: dt.datetime) -> bool:
        return self.is_open and self.due_at is not None and self.due_at <= now

    @property
    def last_day(self) -> dt.date | None:
        """The last London day in time (a task's due closes at 00:00 London after it)."""
        if self.due_at is None:
            return None
        return (self.due_at.astimezone(LONDON) - dt.timedelta(microseconds=1)).date()

    def due_text(self, now: dt.datetime) -> str:
        if self.last_day is None:
            return "No date set: the guidance gives none"
        day = format_day(self.last_day)
        assert self.due_at is not None
        if not self.is_open:
            return f"Was due by the end of {day}"
        if self.overdue(now):
            return f"Overdue by {days_phrase(now - self.due_at)} (last day was {day})"
        return f"Due by the end of {day} — {days_phrase(self.due_at - now)} left"


def sort_key(task: Task) -> tuple[int, dt.datetime]:
    """Open ones first, soonest due first, those without a due after those with one."""
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return (0 if task.is_open else 1, task.due_at or far)


def completion_body(form: Mapping[str, str], task: Task, completed_by_role: str) -> dict[str, Any]:
    """The completion form as the deadlines service takes it: each step's date, or for a step
    the law allows not to be taken, the reason. Values are sent as typed; the service names what
    it refuses."""
    steps: dict[str, str] = {}
    not_taken: dict[str, str] = {}
    for step in task.steps:
        on = form.get(f"step:{step.name}", "").strip()
        why = form.get(f"not_taken:{step.name}", "").strip()
        if on:
            steps[step.name] = on
        if why:
            not_taken[step.name] = why
    body: dict[str, Any] = {
        "completed_by_role": completed_by_role,
        "outcome": form.get("outcome", ""),
        "steps": steps,
        "steps_not_taken": not_taken,
    }
    completed_on = form.get("completed_on", "").strip()
    if completed_on:
        body["completed_on"] = completed_on
    return body


def completion_errors(errors: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """The service's refusals by the form's field names: ``steps.told_patient`` (its own rule)
    or ``body/steps/told_patient`` (a malformed value) is the field ``step:told_patient``."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    prefixes = {"steps": "step:", "steps_not_taken": "not_taken:"}
    for error in errors:
        path = [p for p in re.split(r"[/.]", str(error.get("path", ""))) if p]
        if path[:1] == ["body"]:
            path = path[1:]
        message = str(error.get("message", "invalid"))
        if len(path) >= 2 and path[0] in prefixes:
            name = prefixes[path[0]] + path[1]
        elif len(path) == 1 and path[0] in ("completed_on", "outcome", "owner_role"):
            name = path[0]
        else:
            general.append(f"{'.'.join(path) or 'request'}: {message}")
            continue
        by_field[name] = f"{by_field[name]}; {message}" if name in by_field else message
    return by_field, general
