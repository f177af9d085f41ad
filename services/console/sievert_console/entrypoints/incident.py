"""The incident page and its fragments: facts and history (intake), the decision with its reasons
(reporting's read model), the clocks and the case (deadlines), the local investigation and the
documents with what each still lacks (reporting).

Each fragment is its own route and template, so a live update, or an action, re-renders one
fragment. A fragment whose service is down says so; the others still render.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.adapters.api import ApiProblem, Apis, Caller
from sievert_console.domain.case import Case, Investigation
from sievert_console.domain.clocks import Clock
from sievert_console.domain.coding import CodingChoices
from sievert_console.domain.facts_form import ordered_fields
from sievert_console.domain.particulars import drafts_offered, fields_for, missing_items
from sievert_console.domain.report import Correspondence, shown_findings
from sievert_console.domain.tasks import Task
from sievert_console.domain.tasks import sort_key as task_order
from sievert_console.entrypoints.context import (
    CallerDep,
    Parts,
    PersonDep,
    Section,
    render,
    section,
    sections,
)

#: What a card reads: the APIs, the person's credentials and the incident.
CardContext = Callable[[Apis, Caller, uuid.UUID], Awaitable[dict[str, Any]]]

router = APIRouter(prefix="/incidents/{incident_id}")


@dataclass(frozen=True)
class Clocks:
    """The incident's windows and its case, as deadlines answers them (None before classified)."""

    windows: list[Clock]
    case: Case | None


async def _clocks(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> Clocks | None:
    answer = await apis.deadlines.incident_deadlines(caller, incident_id)
    if answer is None:
        return None
    case = answer.get("case")
    return Clocks(
        windows=[Clock.from_api(w) for w in answer["windows"]],
        case=Case.from_api(case) if case else None,
    )


async def _investigation(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> Investigation | None:
    answer = await apis.reporting.local_investigation(caller, incident_id)
    return None if answer is None else Investigation.from_api(answer)


async def _tasks(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> list[Task] | None:
    answer = await apis.deadlines.incident_tasks(caller, incident_id)
    return None if answer is None else sorted((Task.from_api(t) for t in answer), key=task_order)


async def tasks_context(apis: Apis, caller: Caller, incident_id: uuid.UUID, **state: Any) -> dict[str, Any]:
    return {"incident_id": incident_id, "tasks": await section(_tasks(apis, caller, incident_id)), **state}


async def _documents(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    """The incident's submissions; each draft with what it still lacks (the list carries it)."""
    items = await apis.reporting.submissions(caller, incident_id)
    out = []
    for item in items:
        lacking = missing_items(item.get("missing"))
        out.append({**item, "lacking": lacking, "particulars_fields": fields_for(str(item["kind"]), lacking)})
    return out


async def facts_context(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any]:
    return {"incident_id": incident_id, "facts": await section(apis.intake.incident(caller, incident_id))}


async def decision_context(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "read_model": await section(apis.reporting.incident(caller, incident_id)),
    }


async def clocks_context(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any]:
    return {"incident_id": incident_id, "clocks": await section(_clocks(apis, caller, incident_id))}


async def _coding(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> CodingChoices | None:
    answer = await apis.reporting.coding_choices(caller, incident_id)
    return None if answer is None else CodingChoices.from_api(answer)


async def case_context(apis: Apis, caller: Caller, incident_id: uuid.UUID, **state: Any) -> dict[str, Any]:
    clocks, investigation, coding = await sections(
        _clocks(apis, caller, incident_id),
        _investigation(apis, caller, incident_id),
        _coding(apis, caller, incident_id),
    )
    return {
        "incident_id": incident_id,
        "clocks": clocks,
        "investigation": investigation,
        "coding": coding.value if coding.ok else None,
        **state,
    }


async def documents_context(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any]:
    read_model, submissions = await sections(
        apis.reporting.incident(caller, incident_id), _documents(apis, caller, incident_id)
    )
    return {
        "incident_id": incident_id,
        "read_model": read_model,
        "submissions": submissions,
        "drafts_offered": offered_drafts(read_model, submissions),
    }


def offered_drafts(read_model: Section[Any], submissions: Section[Any]) -> tuple[str, ...]:
    """The documents to offer drafting, from reporting's incident row (its decision and its
    case's status) and the incident's submissions."""
    if not read_model.ok or not submissions.ok:
        return ()
    row = read_model.value or {}
    case_status = (row.get("case") or {}).get("status")
    return drafts_offered(row.get("decision"), submissions.value or [], case_status)


async def _correspondence(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> Correspondence | None:
    answer = await apis.reporting.authority(caller, incident_id)
    return None if answer is None else Correspondence.from_api(answer)


async def authority_context(
    apis: Apis, caller: Caller, incident_id: uuid.UUID, **state: Any
) -> dict[str, Any]:
    correspondence = await section(_correspondence(apis, caller, incident_id))
    return {"incident_id": incident_id, "correspondence": correspondence, **state}


async def _report(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any] | None:
    """The 12-week report's findings, what it still lacks, and the similar incidents proposed
    and confirmed; None before reporting has the incident classified."""
    answer = await apis.reporting.findings(caller, incident_id)
    if answer is None:
        return None
    findings = answer.get("findings") or {}
    return {
        "values": shown_findings(findings),
        "missing": missing_items(answer.get("missing")),
        "proposed": answer.get("similar_incidents_proposed") or "",
        "confirmation": findings.get("similar_incidents_confirmation"),
    }


async def report_context(apis: Apis, caller: Caller, incident_id: uuid.UUID, **state: Any) -> dict[str, Any]:
    read_model, report = await sections(
        apis.reporting.incident(caller, incident_id), _report(apis, caller, incident_id)
    )
    return {"incident_id": incident_id, "read_model": read_model, "report": report, **state}


def amend_context(
    incident_id: uuid.UUID, facts: Section[Any], read_model: Section[Any], **state: Any
) -> dict[str, Any]:
    """The amendment form: the facts the decision still needs first, then every other fact."""
    current = (facts.value or {}).get("facts", {}) if facts.ok else {}
    decision = ((read_model.value or {}).get("decision") or {}) if read_model.ok else {}
    needed, others = ordered_fields(decision.get("needs_facts") or [])
    shown = {name: field.shown(current.get(name)) for name, field in _all_fields(needed, others)}
    return {
        "incident_id": incident_id,
        "facts": facts,
        "needed": needed,
        "others": others,
        "values": {**shown, **state.pop("typed", {})},
        "current": current,
        "expected_version": (facts.value or {}).get("stream_version") if facts.ok else None,
        **state,
    }


def _all_fields(*groups: Any) -> list[tuple[str, Any]]:
    return [(f.name, f) for group in groups for f in group]


@router.get("")
async def incident_page(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep, person: PersonDep
) -> Response:
    apis = console.api()
    (
        facts,
        read_model,
        clocks,
        submissions,
        investigation,
        tasks,
        correspondence,
        report,
        coding,
    ) = await sections(
        apis.intake.incident(caller, incident_id),
        apis.reporting.incident(caller, incident_id),
        _clocks(apis, caller, incident_id),
        _documents(apis, caller, incident_id),
        _investigation(apis, caller, incident_id),
        _tasks(apis, caller, incident_id),
        _correspondence(apis, caller, incident_id),
        _report(apis, caller, incident_id),
        _coding(apis, caller, incident_id),
    )
    known = [s for s in (facts, read_model, clocks) if s.ok]
    if known and all(s.value is None for s in known):
        # Not found by any service that answered: it does not exist, or it is another trust's.
        return render(request, "not_found.html", {"incident_id": incident_id}, status_code=404)
    context = {
        "incident_id": incident_id,
        "facts": facts,
        "read_model": read_model,
        "clocks": clocks,
        "submissions": submissions,
        "investigation": investigation,
        "coding": coding.value if coding.ok else None,
        "tasks": tasks,
        "correspondence": correspondence,
        "report": report,
        "drafts_offered": offered_drafts(read_model, submissions),
        "amend": amend_context(incident_id, facts, read_model),
    }
    return render(request, "incident.html", context)


#: The incident page's cards that the page refetches one at a time when their events arrive:
#: each is ``GET …/{name}``, read by its context function and drawn by
#: ``fragments/incident_{name}.html``.
CARDS: tuple[tuple[str, CardContext], ...] = (
    ("facts", facts_context),
    ("decision", decision_context),
    ("clocks", clocks_context),
    ("case", case_context),
    ("tasks", tasks_context),
    ("authority", authority_context),
    ("report", report_context),
    ("documents", documents_context),
)


def _card_route(name: str, context_of: CardContext) -> None:
    async def card(request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
        context = await context_of(console.api(), caller, incident_id)
        return render(request, f"fragments/incident_{name}.html", context)

    card.__name__ = f"{name}_fragment"
    router.add_api_route(f"/{name}", card, methods=["GET"])


for _name, _context_of in CARDS:
    _card_route(_name, _context_of)


@router.get("/audit")
async def audit_fragment(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    """Loaded when the person opens it: most visits do not need the audit trail."""
    audit = await section(console.api().intake.audit(caller, incident_id))
    return render(request, "fragments/incident_audit.html", {"incident_id": incident_id, "audit": audit})


@router.get("/amend")
async def amend_fragment(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    apis = console.api()
    facts, read_model = await sections(
        apis.intake.incident(caller, incident_id), apis.reporting.incident(caller, incident_id)
    )
    context = {"amend": amend_context(incident_id, facts, read_model)}
    return render(request, "fragments/amend_form.html", context)


@router.get("/submissions/{submission_id}/document.pdf")
async def document_pdf(
    request: Request, incident_id: uuid.UUID, submission_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    """The document as reporting renders it (as issued; for a draft, as it would be issued now)."""
    try:
        pdf = await section(console.api().reporting.document_pdf(caller, submission_id))
    except ApiProblem as refused:  # a draft that lacks items has no document yet (409, listing them)
        text = f"Reporting will not render it yet: {refused.detail}"
        context = {"title": "The document is not complete", "text": text}
        return render(request, "error.html", context, status_code=refused.status)
    if pdf.down:
        return render(request, "unavailable.html", {"service": pdf.down}, status_code=503)
    if not pdf.ok or pdf.value is None:
        return render(request, "not_found.html", {"incident_id": incident_id}, status_code=404)
    filename = f"sievert-{incident_id}-{submission_id}.pdf"
    return Response(
        pdf.value,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
