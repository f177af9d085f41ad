"""What a person records about an incident's case: the local investigation's owner, its close-out
and reopening (reporting, Regulation 8(3), guidance lines 223-227), the authority's agreement to
withdraw a notification that no longer meets the criteria (deadlines, lines 116-118 and 221), and
people's tasks: their owner and their completion (deadlines, docs/deadlines.md "Tasks").

Each answers with the case card: a refused field's message beside the field with what was typed
kept, a conflict (409) saying what changed, and on success the page's other fragments told to
fetch themselves again.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.adapters.api import ApiProblem, ServiceDown
from sievert_console.domain.case import close_out_body, errors_by_field
from sievert_console.domain.coding import CODING_FIELDS, RTE_LISTS, coding_errors
from sievert_console.domain.tasks import Task, completion_body, completion_errors
from sievert_console.entrypoints.actions import REFRESH, form_strings
from sievert_console.entrypoints.context import CallerDep, CsrfChecked, Parts, render
from sievert_console.entrypoints.incident import (
    authority_context,
    case_context,
    report_context,
    tasks_context,
)

router = APIRouter(prefix="/incidents/{incident_id}", dependencies=[CsrfChecked])

CLOSE_FIELDS = (
    "closed_on",
    "findings",
    "error_duty_holder",
    "error_process_step",
    "corrective_actions",
    *CODING_FIELDS,
)
WITHDRAWAL_FIELDS = ("agreed_on", "authority_reference")


def _role(form: dict[str, str]) -> str:
    return form.get("by_role", "").strip() or "Radiation protection lead"


def _version(form: dict[str, str]) -> int | None:
    try:
        return int(form["expected_version"])
    except (KeyError, ValueError):
        return None


async def outcome_of(call: Awaitable[Any], done: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """What to tell the person: done, refused (each field's message beside it), a conflict, or down."""
    try:
        await call
    except ServiceDown as exc:
        return {"problem": f"The {exc.service} service is not answering; nothing was recorded."}
    except ApiProblem as refused:
        errors, general = errors_by_field(coding_errors(refused.errors), fields)
        outcome: dict[str, Any] = {"problem": refused.detail, "details": general, "errors": errors}
        if refused.status == 409:
            # someone else acted first: the card is re-read, so it shows what is recorded now
            outcome["conflict"] = True
        return outcome
    return {"message": done}


#: The cards a person acts on, by name (``fragments/incident_{name}.html``), with what they read.
ACTION_CARDS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "case": case_context,
    "tasks": tasks_context,
    "authority": authority_context,
    "report": report_context,
}


async def card_after(
    request: Request,
    console: Parts,
    caller: CallerDep,
    incident_id: uuid.UUID,
    card: str,
    outcome: dict[str, Any],
) -> Response:
    """The card re-read after an action, with its outcome; a recorded change also tells the page,
    so the other cards refetch."""
    context = await ACTION_CARDS[card](console.api(), caller, incident_id, outcome=outcome)
    headers = REFRESH if "message" in outcome else None
    return render(request, f"fragments/incident_{card}.html", context, headers=headers)


def outcome_shown(outcome: dict[str, Any], form: str, typed: dict[str, str], **more: Any) -> dict[str, Any]:
    """The outcome as a card shows it: what was typed is kept unless it was recorded."""
    done = "message" in outcome
    return {**outcome, "form": form, **({} if done else {"typed": typed}), **more}


async def _card(
    request: Request,
    console: Parts,
    caller: CallerDep,
    incident_id: uuid.UUID,
    *,
    form: str,
    outcome: dict[str, Any],
    typed: dict[str, str],
) -> Response:
    """The case card after an action."""
    return await card_after(
        request, console, caller, incident_id, "case", outcome_shown(outcome, form, typed)
    )


@router.post("/local-investigation/owner")
async def assign_owner(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    form = form_strings(await request.form())
    body = {
        "owner_role": form.get("owner_role", "").strip(),
        "assigned_by_role": _role(form),
        "expected_version": _version(form),
    }
    outcome = await outcome_of(
        console.api().reporting.investigation_command(caller, incident_id, "owner", body),
        "Owner recorded.",
        ("owner_role",),
    )
    return await _card(request, console, caller, incident_id, form="owner", outcome=outcome, typed=form)


@router.post("/local-investigation/close")
async def close(request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
    submitted = await request.form()
    form = form_strings(submitted)
    lists = {name: [str(v) for v in submitted.getlist(f"rte_{name}")] for name in RTE_LISTS}
    # what was ticked, kept beside the rest of what was typed if the close-out is refused
    form.update({f"rte_{name}": " ".join(codes) for name, codes in lists.items()})
    outcome = await outcome_of(
        console.api().reporting.investigation_command(
            caller, incident_id, "close", close_out_body(form, _role(form), lists)
        ),
        "Closed. The local investigation's clock is met, and the case closes if nothing else is owed.",
        CLOSE_FIELDS,
    )
    return await _card(request, console, caller, incident_id, form="close", outcome=outcome, typed=form)


@router.post("/local-investigation/reopen")
async def reopen(request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
    form = form_strings(await request.form())
    body = {
        "reason": form.get("reason", ""),
        "reopened_by_role": _role(form),
        "expected_version": _version(form) or 0,
    }
    outcome = await outcome_of(
        console.api().reporting.investigation_command(caller, incident_id, "reopen", body),
        "Reopened. Its clock runs again against its original due.",
        ("reason",),
    )
    return await _card(request, console, caller, incident_id, form="reopen", outcome=outcome, typed=form)


@router.post("/withdrawal")
async def agree_withdrawal(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    form = form_strings(await request.form())
    body = {
        "agreed_on": form.get("agreed_on", "").strip(),
        "authority_reference": form.get("authority_reference", "").strip(),
        "recorded_by_role": _role(form),
        "expected_version": _version(form),
    }
    outcome = await outcome_of(
        console.api().deadlines.agree_withdrawal(caller, incident_id, body),
        "Recorded: the authority agreed to withdraw the notification, so its report is no longer due.",
        WITHDRAWAL_FIELDS,
    )
    return await _card(request, console, caller, incident_id, form="withdrawal", outcome=outcome, typed=form)


async def _task_card(
    request: Request, console: Parts, caller: CallerDep, incident_id: uuid.UUID, *, outcome: dict[str, Any]
) -> Response:
    return await card_after(request, console, caller, incident_id, "tasks", outcome)


async def _task_outcome(call: Awaitable[Any], done: str) -> dict[str, Any]:
    try:
        await call
    except ServiceDown as exc:
        return {"problem": f"The {exc.service} service is not answering; nothing was recorded."}
    except ApiProblem as refused:
        errors, general = completion_errors(refused.errors)
        return {
            "problem": refused.detail,
            "details": general,
            "errors": errors,
            "conflict": refused.status == 409,
        }
    return {"message": done}


@router.post("/tasks/{task_id}/assign")
async def assign_task(
    request: Request, incident_id: uuid.UUID, task_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    form = form_strings(await request.form())
    body = {
        "owner_role": form.get("owner_role", "").strip(),
        "assigned_by_role": _role(form),
        "expected_version": _version(form),
    }
    call = console.api().deadlines.task_command(caller, incident_id, str(task_id), "assign", body)
    outcome = await _task_outcome(call, "Owner recorded.")
    outcome.update(task=str(task_id), form="assign", typed={} if "message" in outcome else form)
    return await _task_card(request, console, caller, incident_id, outcome=outcome)


@router.post("/tasks/{task_id}/complete")
async def complete_task(
    request: Request, incident_id: uuid.UUID, task_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    """What was done and when (each step's date), or why a step the law allows was not taken."""
    apis = console.api()
    form = form_strings(await request.form())
    tasks = await apis.deadlines.incident_tasks(caller, incident_id) or []
    found = next((Task.from_api(t) for t in tasks if str(t["task_id"]) == str(task_id)), None)
    if found is None:
        outcome: dict[str, Any] = {"problem": "This task is no longer on the case; nothing was recorded."}
    else:
        body = completion_body(form, found, _role(form))
        call = apis.deadlines.task_command(caller, incident_id, str(task_id), "complete", body)
        outcome = await _task_outcome(call, f"{found.name}: recorded as done.")
    outcome.update(task=str(task_id), form="complete", typed={} if "message" in outcome else form)
    return await _task_card(request, console, caller, incident_id, outcome=outcome)
