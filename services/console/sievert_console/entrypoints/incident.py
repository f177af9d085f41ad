"""The incident page and its fragments: facts and history (intake), the decision with its reasons
(reporting's read model), the clocks (deadlines) and the documents (reporting's submissions).

Each fragment is its own route and template, so a live update, or an action, re-renders one
fragment. A fragment whose service is down says so; the others still render.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.adapters.api import Apis, Caller
from sievert_console.domain.clocks import Clock
from sievert_console.domain.facts_form import ordered_fields
from sievert_console.entrypoints.context import (
    CallerDep,
    Parts,
    PersonDep,
    Section,
    render,
    section,
    sections,
)

router = APIRouter(prefix="/incidents/{incident_id}")


async def _windows(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> list[Clock] | None:
    windows = await apis.deadlines.incident_windows(caller, incident_id)
    return None if windows is None else [Clock.from_api(w) for w in windows]


async def facts_context(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any]:
    return {"incident_id": incident_id, "facts": await section(apis.intake.incident(caller, incident_id))}


async def decision_context(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "read_model": await section(apis.reporting.incident(caller, incident_id)),
    }


async def clocks_context(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any]:
    return {"incident_id": incident_id, "clocks": await section(_windows(apis, caller, incident_id))}


async def documents_context(apis: Apis, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any]:
    read_model, submissions = await sections(
        apis.reporting.incident(caller, incident_id), apis.reporting.submissions(caller, incident_id)
    )
    return {"incident_id": incident_id, "read_model": read_model, "submissions": submissions}


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
    facts, read_model, clocks, submissions = await sections(
        apis.intake.incident(caller, incident_id),
        apis.reporting.incident(caller, incident_id),
        _windows(apis, caller, incident_id),
        apis.reporting.submissions(caller, incident_id),
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
        "amend": amend_context(incident_id, facts, read_model),
    }
    return render(request, "incident.html", context)


@router.get("/facts")
async def facts_fragment(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    return render(
        request, "fragments/incident_facts.html", await facts_context(console.api(), caller, incident_id)
    )


@router.get("/decision")
async def decision_fragment(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    context = await decision_context(console.api(), caller, incident_id)
    return render(request, "fragments/incident_decision.html", context)


@router.get("/clocks")
async def clocks_fragment(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    context = await clocks_context(console.api(), caller, incident_id)
    return render(request, "fragments/incident_clocks.html", context)


@router.get("/documents")
async def documents_fragment(
    request: Request, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    context = await documents_context(console.api(), caller, incident_id)
    return render(request, "fragments/incident_documents.html", context)


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
    pdf = await section(console.api().reporting.document_pdf(caller, submission_id))
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
