"""``/v1/submissions``: the notification and the 12-week investigation report, from draft to the
authority's acknowledgement, and their documents as JSON, HTML, PDF and CSV tables.

``POST`` drafts one (a statutory, voluntary or licensing-breach notification, or the report),
``PATCH`` changes a draft, ``POST .../issue`` sends it when complete (emitting
``NotificationSubmitted`` or ``InvestigationReportSubmitted`` for the statutory ones),
``POST .../acknowledgement`` records the authority's reference. A draft's answer lists what its
document still lacks (``missing``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_reporting.adapters import render
from sievert_reporting.domain.document_views import view_of
from sievert_reporting.domain.view import DocumentView
from sievert_reporting.entrypoints.deps import Lead, OwnersDep, Reader, Submissions, one_trust
from sievert_reporting.entrypoints.schemas import ROLE
from sievert_shared.door_dates import EventInstant
from sievert_shared.errors import NotFoundError
from sievert_shared.events.reporting import DocumentParticulars, SubmissionKind

router = APIRouter(prefix="/v1")


class SubmissionDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: uuid.UUID
    kind: SubmissionKind
    contact_role: str = ROLE
    summary: str | None = Field(default=None, max_length=4000, description="Anonymised; no identifiers.")
    particulars: DocumentParticulars = Field(
        default_factory=DocumentParticulars,
        description="What the document needs beyond the facts (docs/reporting.md lists them by document and code).",
    )


class SubmissionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_role: str | None = Field(default=None, min_length=1, max_length=100)
    summary: str | None = Field(default=None, max_length=4000)
    particulars: DocumentParticulars | None = Field(
        default=None, description="Items given replace the draft's; items left out are kept."
    )


class Issue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submitted_by_role: str = ROLE


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$")
    acknowledged_at: EventInstant | None = None


@router.post("/submissions", status_code=201, responses={404: {}, 409: {}, 422: {}})
async def draft(body: SubmissionDraft, caller: Lead, owners: OwnersDep, service: Submissions) -> JSONResponse:
    trust = await owners.writable("incidents", body.incident_id, caller)
    submission_id = await service.draft(
        trust,
        body.incident_id,
        body.kind,
        contact_role=body.contact_role,
        summary=body.summary,
        particulars=body.particulars,
        actor=caller.subject,
    )
    created = await _submission(service, trust, submission_id, status=201)
    created.headers["Location"] = f"/v1/submissions/{submission_id}"
    return created


@router.get("/submissions")
async def submissions(
    caller: Reader,
    service: Submissions,
    site: Annotated[str | None, Query(max_length=64)] = None,
    kind: SubmissionKind | None = None,
    status: Literal["draft", "submitted", "acknowledged"] | None = None,
    incident_id: uuid.UUID | None = None,
) -> JSONResponse:
    trust = one_trust(caller)
    """The trust's submissions; each draft lists what its document still lacks (``missing``)."""
    rows = await service.list_submissions(trust, site=site, kind=kind, status=status, incident_id=incident_id)
    return JSONResponse({"items": [_summary(row, missing) for row, missing in rows]})


@router.get("/submissions/{submission_id}", responses={404: {}})
async def get_submission(
    submission_id: uuid.UUID, caller: Reader, owners: OwnersDep, service: Submissions
) -> JSONResponse:
    trust = await owners.readable("submissions", submission_id, caller)
    return await _submission(service, trust, submission_id)


@router.patch("/submissions/{submission_id}", responses={404: {}, 409: {}, 422: {}})
async def change(
    submission_id: uuid.UUID, body: SubmissionChange, caller: Lead, owners: OwnersDep, service: Submissions
) -> JSONResponse:
    trust = await owners.writable("submissions", submission_id, caller)
    await service.redraft(
        trust,
        submission_id,
        contact_role=body.contact_role,
        summary=body.summary,
        particulars=body.particulars,
        actor=caller.subject,
    )
    return await _submission(service, trust, submission_id)


@router.post("/submissions/{submission_id}/issue", responses={404: {}, 409: {}, 422: {}})
async def issue(
    submission_id: uuid.UUID, body: Issue, caller: Lead, owners: OwnersDep, service: Submissions
) -> JSONResponse:
    """Send the submission: its document is frozen and, for a notification or report, the deadlines
    service is told. 409 when the decision no longer allows it, or listing every missing item."""
    trust = await owners.writable("submissions", submission_id, caller)
    await service.issue(trust, submission_id, submitted_by_role=body.submitted_by_role, actor=caller.subject)
    return await _submission(service, trust, submission_id)


@router.post("/submissions/{submission_id}/acknowledgement", responses={404: {}, 409: {}})
async def acknowledge(
    submission_id: uuid.UUID, body: Acknowledgement, caller: Lead, owners: OwnersDep, service: Submissions
) -> JSONResponse:
    """The authority's acknowledgement, with its reference number (guidance line 116)."""
    trust = await owners.writable("submissions", submission_id, caller)
    await service.acknowledge(
        trust,
        submission_id,
        reference=body.reference,
        acknowledged_at=body.acknowledged_at,
        actor=caller.subject,
    )
    return await _submission(service, trust, submission_id)


@router.get("/submissions/{submission_id}/document.{fmt}", responses={404: {}, 409: {}, 422: {}})
async def document(
    submission_id: uuid.UUID,
    fmt: Literal["json", "html", "pdf"],
    caller: Reader,
    owners: OwnersDep,
    service: Submissions,
) -> Response:
    """The document as issued, or for a draft as it would be issued now."""
    content, view = await _document(owners, service, caller, submission_id)
    if fmt == "json":
        return JSONResponse(content)
    if fmt == "html":
        return Response(render.to_html(view), media_type="text/html; charset=utf-8")
    return Response(render.to_pdf(view), media_type="application/pdf")


@router.get("/submissions/{submission_id}/tables/{name}.csv", responses={404: {}, 409: {}, 422: {}})
async def table(
    submission_id: uuid.UUID,
    name: Annotated[str, Path(max_length=64)],
    caller: Reader,
    owners: OwnersDep,
    service: Submissions,
) -> Response:
    _, view = await _document(owners, service, caller, submission_id)
    tables = {t.name: t for t in view.tables()}
    if name not in tables:
        raise NotFoundError(f"no table {name!r}; tables: {sorted(tables)}")
    return Response(render.table_csv(tables[name]), media_type="text/csv; charset=utf-8")


async def _document(
    owners: OwnersDep, service: Submissions, caller: Reader, submission_id: uuid.UUID
) -> tuple[dict[str, Any], DocumentView]:
    trust = await owners.readable("submissions", submission_id, caller)
    content = await service.document(trust, submission_id)
    return content, view_of(content)


async def _submission(
    service: Submissions, trust: str, submission_id: uuid.UUID, status: int = 200
) -> JSONResponse:
    row, missing = await service.submission(trust, submission_id)
    return JSONResponse(_summary(row, missing), status_code=status)


def _summary(row: asyncpg.Record, missing: list[Any] | None) -> dict[str, Any]:
    """A submission as the API shows it: a draft with ``missing``, a sent one without."""
    sid = row["submission_id"]
    out: dict[str, Any] = {
        key: (
            value.isoformat()
            if isinstance(value, dt.datetime)
            else str(value)
            if isinstance(value, uuid.UUID)
            else value
        )
        for key, value in row.items()
        if key not in ("document", "stream_version")
    }
    out["links"] = {
        "self": f"/v1/submissions/{sid}",
        "json": f"/v1/submissions/{sid}/document.json",
        "html": f"/v1/submissions/{sid}/document.html",
        "pdf": f"/v1/submissions/{sid}/document.pdf",
    }
    if missing is not None:
        out["missing"] = missing
    return out
