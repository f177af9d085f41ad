"""What a person records for the authority after the notification: its correspondence (a query
received, the trust's answer, its closure of the case: reporting, guidance lines 116-131) and the
12-week report's investigation (the findings, lines 229-238, and the similar incidents a person
confirms, line 234).

Each answers with its card: a refused field's message beside the field with what was typed kept,
a conflict (409) saying what is recorded now (the card is read again), and on success the page's
other fragments told to fetch themselves again (the report draft's missing items follow).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.domain.report import FINDING_NAMES, findings_body
from sievert_console.entrypoints.actions import form_strings
from sievert_console.entrypoints.case_actions import card_after, outcome_of, outcome_shown
from sievert_console.entrypoints.context import CallerDep, CsrfChecked, Parts

router = APIRouter(prefix="/incidents/{incident_id}", dependencies=[CsrfChecked])

QUERY_FIELDS = ("received_on", "summary")
ANSWER_FIELDS = ("answered_on", "summary")
CLOSURE_FIELDS = ("closed_on", "reference")


def _role(form: dict[str, str]) -> str:
    return form.get("by_role", "").strip() or "Radiation protection lead"


@router.post("/authority/queries")
async def record_query(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    form = form_strings(await request.form())
    body = {
        "received_on": form.get("received_on", "").strip(),
        "summary": form.get("summary", ""),
        "recorded_by_role": _role(form),
    }
    outcome = await outcome_of(
        console.api().reporting.authority_command(caller, incident_id, "queries", body),
        "Query recorded. Record the trust's answer once it is sent.",
        QUERY_FIELDS,
    )
    shown = outcome_shown(outcome, "query", form)
    return await card_after(request, console, caller, incident_id, "authority", shown)


@router.post("/authority/queries/{query_id}/answer")
async def answer_query(
    request: Request, incident_id: uuid.UUID, query_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    form = form_strings(await request.form())
    body = {
        "answered_on": form.get("answered_on", "").strip(),
        "summary": form.get("summary", ""),
        "answered_by_role": _role(form),
    }
    outcome = await outcome_of(
        console.api().reporting.authority_command(caller, incident_id, f"queries/{query_id}/answer", body),
        "Answer recorded.",
        ANSWER_FIELDS,
    )
    shown = outcome_shown(outcome, "answer", form, query=str(query_id))
    return await card_after(request, console, caller, incident_id, "authority", shown)


@router.post("/authority/closure")
async def record_closure(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    form = form_strings(await request.form())
    body = {
        "closed_on": form.get("closed_on", "").strip(),
        "reference": form.get("reference", "").strip() or None,
        "recorded_by_role": _role(form),
    }
    outcome = await outcome_of(
        console.api().reporting.authority_command(caller, incident_id, "closure", body),
        "Recorded: the authority closed the notification. The case closes once nothing else is owed.",
        CLOSURE_FIELDS,
    )
    shown = outcome_shown(outcome, "closure", form)
    return await card_after(request, console, caller, incident_id, "authority", shown)


@router.post("/findings")
async def record_findings(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    form = form_strings(await request.form())
    body = findings_body(form, _role(form))
    if len(body) == 1:  # only who recorded them
        outcome: dict[str, Any] = {"problem": "Nothing was filled in: the findings are unchanged."}
    else:
        outcome = await outcome_of(
            console.api().reporting.record_findings(caller, incident_id, body),
            "Findings recorded. What the report still lacks is listed above.",
            FINDING_NAMES,
        )
    shown = outcome_shown(outcome, "findings", form)
    return await card_after(request, console, caller, incident_id, "report", shown)


@router.post("/similar-incidents/confirm")
async def confirm_similar_incidents(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    """The text as proposed, or as the person edited it: an unconfirmed report is not sent."""
    form = form_strings(await request.form())
    body = {"summary": form.get("summary", ""), "confirmed_by_role": _role(form)}
    outcome = await outcome_of(
        console.api().reporting.confirm_similar_incidents(caller, incident_id, body),
        "Confirmed: the report states these similar incidents.",
        ("summary",),
    )
    shown = outcome_shown(outcome, "similar", form)
    return await card_after(request, console, caller, incident_id, "report", shown)
