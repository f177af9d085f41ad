"""What a person may do on an incident, each a form posted with htmx and answered with the
fragment it changes. The services decide (role, tenancy, state); the console shows their answer:
field errors next to the fields with what was typed kept, a conflict with what changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.adapters.api import ApiProblem, Apis, Caller, ServiceDown
from sievert_console.domain.clocks import LONDON
from sievert_console.domain.facts_form import FIELDS_BY_NAME, amendment_patch, field_errors
from sievert_console.domain.particulars import FIELDS as PARTICULARS
from sievert_console.domain.particulars import errors_by_particular, missing_items, particulars_patch
from sievert_console.entrypoints.context import CallerDep, CsrfChecked, Parts, render, section, sections
from sievert_console.entrypoints.incident import amend_context, clocks_context, documents_context

router = APIRouter(prefix="/incidents/{incident_id}", dependencies=[CsrfChecked])

#: Tells the page's fragments to fetch themselves again (they listen for it on <body>).
REFRESH = {"HX-Trigger": "incident-changed"}


def form_strings(form: Any) -> dict[str, str]:
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _changes_since(facts: dict[str, Any], version: int) -> list[dict[str, Any]]:
    return [h for h in facts.get("history", []) if int(h.get("stream_version", 0)) > version]


@router.post("/amendments")
async def amend(request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
    apis = console.api()
    form = form_strings(await request.form())
    typed = {name: form[name] for name in FIELDS_BY_NAME if name in form}
    facts, read_model = await sections(
        apis.intake.incident(caller, incident_id), apis.reporting.incident(caller, incident_id)
    )

    def again(
        status: int = 200, headers: dict[str, str] | None = None, keep_typed: bool = True, **state: Any
    ) -> Response:
        kept = {"typed": typed, "reason": form.get("reason", "")} if keep_typed else {}
        context = {"amend": amend_context(incident_id, facts, read_model, **kept, **state)}
        return render(request, "fragments/amend_form.html", context, status_code=status, headers=headers)

    if not facts.ok or facts.value is None:
        return again(problem="Intake is not answering, so the facts cannot be changed now.")
    expected = int(form.get("expected_version") or 0)
    if expected != facts.value["stream_version"]:
        return again(status=409, conflict=_changes_since(facts.value, expected))
    patch = amendment_patch(form, facts.value["facts"])
    if not patch:
        return again(problem="Nothing was changed: edit at least one fact.")
    body = {"expected_version": expected, "facts": patch, "reason": form.get("reason", "").strip()}
    try:
        answer = await apis.intake.amend(caller, incident_id, body)
    except ServiceDown:
        return again(problem="Intake is not answering; nothing was stored. Try again shortly.")
    except ApiProblem as refused:
        return _amend_refused(refused, again, facts.value, expected)
    facts = await section(apis.intake.incident(caller, incident_id))
    return again(
        headers=REFRESH,
        keep_typed=False,
        message=f"Recorded as version {answer['stream_version']}. The decision and clocks follow as the services process it.",
    )


def _amend_refused(
    refused: ApiProblem, again: Callable[..., Response], facts: dict[str, Any], expected: int
) -> Response:
    if refused.status == 422:
        errors, general = field_errors(refused.errors)
        if not refused.errors:
            general = [refused.detail]
        return again(status=422, errors=errors, general=general)
    if refused.status == 409:
        return again(status=409, conflict=_changes_since(facts, expected), problem=refused.detail)
    return again(status=refused.status, problem=refused.detail)


def _submitted_at(raw: str) -> dt.datetime | None:
    """A datetime-local value, read as London time (what people at a trust mean)."""
    try:
        return dt.datetime.fromisoformat(raw).replace(tzinfo=LONDON)
    except ValueError:
        return None


@router.post("/submissions")
async def record_submission(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    """A notification or report sent outside Sievert (the regulator's portal): deadlines meets
    the window, and reporting will not draft or issue a second one."""
    apis = console.api()
    form = form_strings(await request.form())
    submitted_at = _submitted_at(form.get("submitted_at", ""))
    body = {
        "kind": form.get("kind", ""),
        "authority": form.get("authority", ""),
        "submitted_at": submitted_at.isoformat() if submitted_at else form.get("submitted_at", ""),
        "submitted_by_role": form.get("submitted_by_role", "").strip(),
        "reference": form.get("reference", "").strip() or None,
    }
    outcome = await _attempt(
        apis.deadlines.record_submission(caller, incident_id, body),
        "Recorded. The window is met as the deadlines service processes it.",
    )
    context = await clocks_context(apis, caller, incident_id)
    context["record"] = {"typed": {} if "message" in outcome else form, **outcome}
    headers = REFRESH if "message" in outcome else None
    return render(request, "fragments/record_submission.html", context, headers=headers)


async def _attempt(call: Any, done: str = "Recorded.") -> dict[str, Any]:
    """Run an action; what to tell the person."""
    try:
        await call
    except ServiceDown as exc:
        return {"problem": f"The {exc.service} service is not answering; nothing was recorded."}
    except ApiProblem as refused:
        errors, general = field_errors(refused.errors)
        listed = [f"{e.get('path', '')}: {e.get('message', '')}" for e in refused.errors]
        missing = refused.body.get("missing")
        return {
            "problem": refused.detail,
            "details": listed or general,
            "errors": errors,
            "raw_errors": refused.errors,
            # an incomplete document (409): each item in words with its guidance lines
            "missing": missing_items(missing) if isinstance(missing, list) else (),
        }
    return {"message": done}


async def _documents(
    request: Request, apis: Apis, caller: Caller, incident_id: uuid.UUID, outcome: dict[str, Any]
) -> Response:
    context = await documents_context(apis, caller, incident_id)
    context["outcome"] = outcome
    headers = REFRESH if "message" in outcome else None
    return render(request, "fragments/incident_documents.html", context, headers=headers)


@router.post("/drafts")
async def draft(request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
    """A notification, a voluntary or licensing-breach notification, or the 12-week report:
    reporting decides whether the decision calls for it (409 naming why not)."""
    apis = console.api()
    form = form_strings(await request.form())
    body = {
        "incident_id": str(incident_id),
        "kind": form.get("kind", "notification"),
        "contact_role": form.get("contact_role", "").strip(),
        "summary": form.get("summary", "").strip() or None,
    }
    outcome = await _attempt(
        apis.reporting.draft(caller, body),
        "Drafted. What it still lacks is listed with it; once complete, issue it.",
    )
    outcome["typed"] = form
    return await _documents(request, apis, caller, incident_id, outcome)


@router.post("/submissions/{submission_id}/issue")
async def issue(
    request: Request, incident_id: uuid.UUID, submission_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    apis = console.api()
    form = form_strings(await request.form())
    role = form.get("submitted_by_role", "").strip()
    outcome = await _attempt(
        apis.reporting.issue(caller, submission_id, role), "Issued: the document is frozen as sent."
    )
    return await _documents(request, apis, caller, incident_id, outcome)


@router.post("/submissions/{submission_id}/particulars")
async def complete_particulars(
    request: Request, incident_id: uuid.UUID, submission_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    """What the person wrote on the draft (the preliminary investigation and the immediate actions
    of line 218, a code's description): reporting keeps the items given and re-checks the draft."""
    apis = console.api()
    form = form_strings(await request.form())
    offered = [f for f in PARTICULARS if f.name in form]
    patch = particulars_patch(form, offered)
    if not patch:
        outcome: dict[str, Any] = {"problem": "Nothing was filled in: the draft is unchanged."}
    else:
        outcome = await _attempt(
            apis.reporting.redraft(caller, submission_id, {"particulars": patch}),
            "Saved on the draft. What it still lacks is listed above the form.",
        )
        errors, _ = errors_by_particular(outcome.get("raw_errors", []))
        outcome["errors"] = errors
    outcome["particulars_of"] = str(submission_id)
    if "message" not in outcome:
        outcome["typed"] = {f.name: form.get(f.name, "") for f in offered}
    return await _documents(request, apis, caller, incident_id, outcome)
