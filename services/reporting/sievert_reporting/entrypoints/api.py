"""Reporting's HTTP API: the incident read model, and regulator submissions.

Submissions are resources under ``/v1/submissions``: ``POST`` drafts one, ``PATCH`` changes a
draft, ``POST .../issue`` sends it (emitting ``NotificationSubmitted`` or
``InvestigationReportSubmitted``), ``POST .../acknowledgement`` records the authority's
reference. Documents are ``GET .../document.json|html|pdf`` and every table
``GET .../tables/{name}.csv``. Findings are ``POST /v1/incidents/{id}/findings``.

Every route but health authenticates (``sievert_shared.auth.require``) and acts for the caller's
trust only: a row of another trust answers 404, as if it did not exist, so ids cannot be probed.
Who may do what (issue 8): RP leads read and act on submissions, findings and themes; auditors
read; trust admins read and manage activity counts and shared-theme consent; theme reviewers
read other trusts' shared themes and nothing else; integration engines have nothing to do here.
The actor on every event is the caller's subject.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from sievert_reporting.adapters import render
from sievert_reporting.adapters.activity_store import store_activity
from sievert_reporting.domain import documents
from sievert_reporting.domain.activity import BadActivityError, parse_csv, parse_rows
from sievert_reporting.domain.annual import parse_period
from sievert_reporting.domain.document_views import notification_view, report_view
from sievert_reporting.domain.view import DocumentView
from sievert_reporting.queries import (
    BadCursorError,
    IncidentFilter,
    Owned,
    get_incident,
    list_incidents,
    list_submissions,
    owner_of,
    sites_of_other_trusts,
)
from sievert_reporting.service import (
    ConflictError,
    IdentifiersFoundError,
    IncompleteReportError,
    NotFoundError,
    ReportingService,
)
from sievert_reporting.themes import ThemeService
from sievert_shared.auth import Authenticator, AuthError, Principal, Role, install_auth, require
from sievert_shared.events import InvestigationFindingsRecorded
from sievert_shared.events.reporting import DutyHolder, ProcessStep, SubmissionKind
from sievert_shared.http import problem
from sievert_shared.runtime import ServiceRuntime, service_app

_TRUST_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

Reader = Annotated[Principal, require(Role.RP_LEAD, Role.TRUST_ADMIN, Role.AUDITOR)]
Lead = Annotated[Principal, require(Role.RP_LEAD)]
Admin = Annotated[Principal, require(Role.TRUST_ADMIN)]
# Shared themes are anonymised by construction and consented to: the one cross-trust read.
SharedReader = Annotated[
    Principal, require(Role.THEME_REVIEWER, Role.RP_LEAD, Role.TRUST_ADMIN, Role.AUDITOR)
]
TrustPath = Annotated[str, Path(min_length=1, max_length=64, pattern=_TRUST_PATTERN)]


def one_trust(caller: Principal) -> str:
    """The trust a route acts for when no row names it (opening a theme, listing). The development
    principal acts for every trust, so it cannot stand for one: such routes need credentials."""
    if caller.every_trust:
        raise AuthError(
            403,
            "Forbidden",
            "this route acts for one trust and the development principal acts for every trust: "
            "send credentials",
        )
    return caller.trust


_Role = Field(min_length=1, max_length=100, description="A staff role, never a name.")


class SubmissionDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: uuid.UUID
    kind: SubmissionKind
    contact_role: str = _Role
    summary: str | None = Field(default=None, max_length=4000, description="Anonymised; no identifiers.")


class SubmissionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_role: str | None = Field(default=None, min_length=1, max_length=100)
    summary: str | None = Field(default=None, max_length=4000)


class Issue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submitted_by_role: str = _Role


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$")
    acknowledged_at: AwareDatetime | None = None


class FindingsBody(BaseModel):
    """Items of the investigation (guidance lines 229-238); omitted items are unchanged."""

    model_config = ConfigDict(extra="forbid")

    recorded_by_role: str = _Role
    what_happened: str | None = Field(default=None, max_length=4000)
    dose_assessment: str | None = Field(default=None, max_length=4000)
    root_causes: list[str] | None = Field(default=None, max_length=50)
    contributory_factors: list[str] | None = Field(default=None, max_length=50)
    duty_of_candour_met: bool | None = None
    duty_of_candour_notes: str | None = Field(default=None, max_length=4000)
    csaue_procedure_applied: bool | None = None
    csaue_procedure_notes: str | None = Field(default=None, max_length=4000)
    learning: str | None = Field(default=None, max_length=4000)
    learning_shared_how: str | None = Field(default=None, max_length=4000)
    corrective_actions: list[str] | None = Field(default=None, max_length=50)
    error_duty_holder: DutyHolder | None = None
    error_process_step: ProcessStep | None = None


class ThemeOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(min_length=1, max_length=64, pattern=_TRUST_PATTERN, description="The opening site.")
    title: str = Field(min_length=1, max_length=200, description="e.g. 'Hand-held dental units'.")
    description: str = Field(min_length=1, max_length=4000, description="Anonymised; no identifiers.")
    opened_by_role: str = _Role


class ThemeLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: uuid.UUID
    linked_by_role: str = _Role


class ThemeUnlink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="Why; anonymised, no identifiers.")
    unlinked_by_role: str = _Role


class ActivityItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(max_length=64)
    modality: str = Field(max_length=64)
    examinations: int = Field(ge=0)


class ActivityBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ActivityItem] = Field(max_length=10_000)


class Consent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent: bool = Field(description="See (and so receive) other trusts' shared theme summaries.")


def create_app(
    runtime: ServiceRuntime,
    service: ReportingService,
    theme_service: ThemeService | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    theme_service = theme_service or ThemeService(runtime)
    app = service_app(
        runtime, description="Read models and regulator submissions projected from the event log."
    )
    # AUTH_* settings (shared by every service); tests swap app.state.authenticator.
    install_auth(
        app, authenticator or Authenticator.from_settings(None, environment=runtime.settings.environment)
    )
    router = APIRouter(prefix="/v1")

    async def visible(table: Owned, key: uuid.UUID, caller: Principal) -> tuple[str, str] | None:
        """The row's (trust, site) if the caller may see it; None for another trust's row, which
        the route answers exactly as a row that does not exist."""
        async with runtime.pool.acquire() as conn:
            owner = await owner_of(conn, table, key)
        return owner if owner is not None and caller.sees(owner[0]) else None

    async def writable(table: Owned, key: uuid.UUID, caller: Principal) -> tuple[str, str] | Response:
        """The row's (trust, site) if the caller may act on it, else the refusal to send."""
        owner = await visible(table, key, caller)
        if owner is None:
            return problem(404, "Not found", f"no {table[:-1]} {key}")
        if not caller.may_post_for(*owner):
            return problem(403, "Forbidden", f"these credentials do not act for site {owner[1]}")
        return owner

    @router.get("/incidents")
    async def incidents(
        trust: Annotated[str | None, Query(max_length=64)] = None,
        site: Annotated[str | None, Query(max_length=64)] = None,
        notifiable: bool | None = None,
        authority: Annotated[str | None, Query(max_length=16)] = None,
        code: Annotated[str | None, Query(max_length=16, description="e.g. 2.2 or M2.1")] = None,
        modality: Annotated[str | None, Query(max_length=64)] = None,
        discovered_from: dt.date | None = None,
        discovered_to: dt.date | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
        *,
        caller: Reader,
    ) -> JSONResponse:
        """Incidents, newest discovery first. Follow ``next_cursor`` for the next page. Only the
        caller's trust: another trust in ``trust=`` gives an empty list."""
        if not caller.every_trust:
            if trust is not None and not caller.sees(trust):
                return JSONResponse({"items": [], "next_cursor": None})
            trust = caller.trust
        where = IncidentFilter(
            trust, site, notifiable, authority, code, modality, discovered_from, discovered_to
        )
        try:
            async with runtime.pool.acquire() as conn:
                return JSONResponse(await list_incidents(conn, where, limit=limit, cursor=cursor))
        except BadCursorError as exc:
            return problem(
                422, "Invalid request", str(exc), errors=[{"path": "query/cursor", "message": str(exc)}]
            )

    @router.get("/incidents/{incident_id}", responses={404: {}})
    async def incident(incident_id: uuid.UUID, caller: Reader) -> JSONResponse:
        async with runtime.pool.acquire() as conn:
            row = await get_incident(conn, incident_id)
        if row is None or not caller.sees(row["trust"]):
            return problem(404, "Not found", f"no incident {incident_id} in the read model (yet)")
        return JSONResponse(row)

    # -- findings --------------------------------------------------------------------------------

    @router.post("/incidents/{incident_id}/findings", status_code=202, responses={404: {}, 409: {}, 422: {}})
    async def record_findings(incident_id: uuid.UUID, body: FindingsBody, caller: Lead) -> Response:
        owner = await writable("incidents", incident_id, caller)
        if isinstance(owner, Response):
            return owner
        trust = owner[0]
        event = InvestigationFindingsRecorded.model_validate(body.model_dump())
        try:
            await service.record_findings(trust, incident_id, event, caller.subject)
        except (NotFoundError, ConflictError, IdentifiersFoundError) as exc:
            return _problem_for(exc)
        return await _findings(trust, incident_id, status=202)

    @router.get("/incidents/{incident_id}/findings", responses={404: {}})
    async def get_findings(incident_id: uuid.UUID, caller: Reader) -> Response:
        owner = await visible("incidents", incident_id, caller)
        if owner is None:
            return problem(404, "Not found", f"no incident {incident_id}")
        return await _findings(owner[0], incident_id)

    async def _findings(trust: str, incident_id: uuid.UUID, status: int = 200) -> Response:
        async with runtime.pool.acquire() as conn:
            try:
                incident = await service.load_incident(conn, trust, incident_id)
            except NotFoundError as exc:
                return _problem_for(exc)
            findings = await service.findings(conn, incident_id)
        missing = documents.missing_report_items(findings, incident.facts)
        return JSONResponse(
            {
                "incident_id": str(incident_id),
                "findings": findings.model_dump(mode="json"),
                "missing": missing,
            },
            status_code=status,
        )

    # -- submissions -----------------------------------------------------------------------------

    @router.post("/submissions", status_code=201, responses={404: {}, 409: {}, 422: {}})
    async def draft(body: SubmissionDraft, caller: Lead, request: Request) -> Response:
        owner = await writable("incidents", body.incident_id, caller)
        if isinstance(owner, Response):
            return owner
        trust = owner[0]
        try:
            submission_id = await service.draft(
                trust,
                body.incident_id,
                body.kind,
                contact_role=body.contact_role,
                summary=body.summary,
                correlation_id=request.state.correlation_id,
                actor=caller.subject,
            )
        except (NotFoundError, ConflictError, IdentifiersFoundError) as exc:
            refused = _problem_for(exc)
            if isinstance(exc, ConflictError) and "submission_id" in exc.extra:
                refused.headers["Location"] = f"/v1/submissions/{exc.extra['submission_id']}"
            return refused
        created = await _submission(trust, submission_id, status=201)
        created.headers["Location"] = f"/v1/submissions/{submission_id}"
        return created

    @router.get("/submissions")
    async def submissions(
        caller: Reader,
        site: Annotated[str | None, Query(max_length=64)] = None,
        kind: SubmissionKind | None = None,
        status: Literal["draft", "submitted", "acknowledged"] | None = None,
        incident_id: uuid.UUID | None = None,
    ) -> JSONResponse:
        trust = one_trust(caller)
        async with runtime.pool.acquire() as conn:
            rows = await list_submissions(
                conn,
                trust,
                site=site,
                kind=kind.value if kind else None,
                status=status,
                incident_id=incident_id,
            )
        return JSONResponse({"items": [_summary(r) for r in rows]})

    @router.get("/submissions/{submission_id}", responses={404: {}})
    async def get_submission(submission_id: uuid.UUID, caller: Reader) -> Response:
        owner = await visible("submissions", submission_id, caller)
        if owner is None:
            return problem(404, "Not found", f"no submission {submission_id}")
        return await _submission(owner[0], submission_id)

    @router.patch("/submissions/{submission_id}", responses={404: {}, 409: {}, 422: {}})
    async def change(submission_id: uuid.UUID, body: SubmissionChange, caller: Lead) -> Response:
        owner = await writable("submissions", submission_id, caller)
        if isinstance(owner, Response):
            return owner
        trust = owner[0]
        try:
            await service.redraft(
                trust,
                submission_id,
                contact_role=body.contact_role,
                summary=body.summary,
                actor=caller.subject,
            )
        except (NotFoundError, ConflictError, IdentifiersFoundError) as exc:
            return _problem_for(exc)
        return await _submission(trust, submission_id)

    @router.post("/submissions/{submission_id}/issue", responses={404: {}, 409: {}, 422: {}})
    async def issue(submission_id: uuid.UUID, body: Issue, caller: Lead) -> Response:
        """Send the submission: its document is frozen and the deadlines service is told."""
        owner = await writable("submissions", submission_id, caller)
        if isinstance(owner, Response):
            return owner
        trust = owner[0]
        try:
            await service.issue(
                trust, submission_id, submitted_by_role=body.submitted_by_role, actor=caller.subject
            )
        except (NotFoundError, ConflictError, IdentifiersFoundError, IncompleteReportError) as exc:
            return _problem_for(exc)
        return await _submission(trust, submission_id)

    @router.post("/submissions/{submission_id}/acknowledgement", responses={404: {}, 409: {}})
    async def acknowledge(submission_id: uuid.UUID, body: Acknowledgement, caller: Lead) -> Response:
        """The authority's acknowledgement, with its reference number (guidance line 116)."""
        owner = await writable("submissions", submission_id, caller)
        if isinstance(owner, Response):
            return owner
        trust = owner[0]
        try:
            await service.acknowledge(
                trust,
                submission_id,
                reference=body.reference,
                acknowledged_at=body.acknowledged_at,
                actor=caller.subject,
            )
        except (NotFoundError, ConflictError) as exc:
            return _problem_for(exc)
        return await _submission(trust, submission_id)

    @router.get("/submissions/{submission_id}/document.{fmt}", responses={404: {}, 422: {}})
    async def document(
        submission_id: uuid.UUID, fmt: Literal["json", "html", "pdf"], caller: Reader
    ) -> Response:
        """The document as issued, or for a draft as it would be issued now."""
        loaded = await _document(caller, submission_id)
        if isinstance(loaded, Response):
            return loaded
        content, view = loaded
        if fmt == "json":
            return JSONResponse(content)
        if fmt == "html":
            return Response(render.to_html(view), media_type="text/html; charset=utf-8")
        return Response(render.to_pdf(view), media_type="application/pdf")

    @router.get("/submissions/{submission_id}/tables/{name}.csv", responses={404: {}, 422: {}})
    async def table(
        submission_id: uuid.UUID, name: Annotated[str, Path(max_length=64)], caller: Reader
    ) -> Response:
        loaded = await _document(caller, submission_id)
        if isinstance(loaded, Response):
            return loaded
        tables = {t.name: t for t in loaded[1].tables()}
        if name not in tables:
            return problem(404, "Not found", f"no table {name!r}; tables: {sorted(tables)}")
        return Response(render.table_csv(tables[name]), media_type="text/csv; charset=utf-8")

    async def _document(
        caller: Principal, submission_id: uuid.UUID
    ) -> tuple[dict[str, Any], DocumentView] | Response:
        owner = await visible("submissions", submission_id, caller)
        if owner is None:
            return problem(404, "Not found", f"no submission {submission_id}")
        trust = owner[0]
        async with runtime.pool.acquire() as conn:
            try:
                row = await service.load_submission(conn, trust, submission_id)
                content = row["document"]
                if content is None:
                    incident = await service.load_incident(conn, trust, row["incident_id"])
                    content = await service.build_document(conn, row, incident)
            except (NotFoundError, IncompleteReportError) as exc:
                return _problem_for(exc)
        return content, view_of(content)

    async def _submission(trust: str, submission_id: uuid.UUID, status: int = 200) -> Response:
        async with runtime.pool.acquire() as conn:
            try:
                row = await service.load_submission(conn, trust, submission_id)
            except NotFoundError as exc:
                return _problem_for(exc)
            body = _summary(row)
            if row["kind"] == SubmissionKind.INVESTIGATION_REPORT and row["status"] == "draft":
                incident = await service.load_incident(conn, trust, row["incident_id"])
                findings = await service.findings(conn, row["incident_id"])
                body["missing"] = documents.missing_report_items(findings, incident.facts)
        return JSONResponse(body, status_code=status)

    # -- activity counts -------------------------------------------------------------------------

    @router.post(
        "/trusts/{trust_id}/activity",
        responses={403: {}, 404: {}, 415: {}, 422: {}},
        openapi_extra={
            "requestBody": {
                "content": {
                    "text/csv": {"schema": {"type": "string", "description": "site,modality,examinations"}},
                    "application/json": {"schema": ActivityBody.model_json_schema()},
                }
            }
        },
    )
    async def load_activity(
        trust_id: TrustPath,
        caller: Admin,
        request: Request,
        year: Annotated[str, Query(max_length=7, description="2024/25 (financial) or 2024 (calendar)")],
    ) -> Response:
        """Examinations per site and modality for a year, as CSV (the CLI's ``--activity`` file)
        or JSON ``{"items": [{site, modality, examinations}]}``: the annual report's rates per
        1,000 examinations. Loading a site and modality again replaces its count."""
        if not caller.sees(trust_id):
            return _no_such_trust(trust_id)
        trust = trust_id
        try:
            period = parse_period(year)
        except ValueError as exc:
            return problem(
                422, "Invalid request", str(exc), errors=[{"path": "query/year", "message": str(exc)}]
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await request.body()
        try:
            if content_type == "text/csv":
                counts = parse_csv(raw.decode("utf-8-sig"))
            elif content_type == "application/json":
                body = ActivityBody.model_validate_json(raw)
                counts = parse_rows([item.model_dump() for item in body.items])
            else:
                return problem(415, "Unsupported media type", "send text/csv or application/json")
        except BadActivityError as exc:
            return problem(422, "Invalid activity counts", str(exc), errors=exc.errors)
        except (ValidationError, UnicodeDecodeError) as exc:
            return problem(422, "Invalid activity counts", str(exc).splitlines()[0])
        refused = sorted({c.site for c in counts if not caller.may_post_for(trust, c.site)})
        if refused:
            return problem(403, "Forbidden", f"these credentials do not act for site(s) {', '.join(refused)}")
        async with runtime.pool.acquire() as conn, conn.transaction():
            foreign = await sites_of_other_trusts(conn, trust, sorted({c.site for c in counts}))
            if foreign:
                return _sites_of_another_trust(foreign)
            await store_activity(conn, trust, period, counts)
        return JSONResponse({"trust": trust, "year": period.label, "loaded": len(counts)})

    @router.get("/trusts/{trust_id}/activity", responses={404: {}, 422: {}})
    async def get_activity(
        trust_id: TrustPath, caller: Reader, year: Annotated[str, Query(max_length=7)]
    ) -> Response:
        if not caller.sees(trust_id):
            return _no_such_trust(trust_id)
        trust = trust_id
        try:
            period = parse_period(year)
        except ValueError as exc:
            return problem(
                422, "Invalid request", str(exc), errors=[{"path": "query/year", "message": str(exc)}]
            )
        async with runtime.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT site, modality, examinations FROM activity_counts
                   WHERE trust = $1 AND year_start = $2 ORDER BY site, modality""",
                trust,
                period.start,
            )
        return JSONResponse({"trust": trust, "year": period.label, "items": [dict(r.items()) for r in rows]})

    # -- thematic reviews ------------------------------------------------------------------------

    @router.post("/themes", status_code=201, responses={403: {}, 422: {}})
    async def open_theme(body: ThemeOpen, caller: Lead) -> Response:
        trust = one_trust(caller)
        if not caller.may_post_for(trust, body.site):
            return problem(403, "Forbidden", f"these credentials do not act for site {body.site}")
        async with runtime.pool.acquire() as conn:
            if foreign := await sites_of_other_trusts(conn, trust, [body.site]):
                return _sites_of_another_trust(foreign)
        try:
            theme_id = await theme_service.open(
                trust,
                site=body.site,
                title=body.title,
                description=body.description,
                opened_by_role=body.opened_by_role,
                actor=caller.subject,
            )
        except IdentifiersFoundError as exc:
            return _problem_for(exc)
        created = await _theme(trust, theme_id, status=201)
        created.headers["Location"] = f"/v1/themes/{theme_id}"
        return created

    @router.get("/themes")
    async def list_themes(caller: Reader) -> JSONResponse:
        trust = one_trust(caller)
        async with runtime.pool.acquire() as conn:
            return JSONResponse({"items": await theme_service.list_themes(conn, trust)})

    @router.get("/themes/{theme_id}", responses={404: {}})
    async def get_theme(theme_id: uuid.UUID, caller: Reader) -> Response:
        """The theme across every site of the caller's trust: its incidents and counts per site."""
        owner = await visible("themes", theme_id, caller)
        if owner is None:
            return problem(404, "Not found", f"no theme {theme_id}")
        return await _theme(owner[0], theme_id)

    @router.post("/themes/{theme_id}/incidents", responses={404: {}, 422: {}})
    async def link_incident(theme_id: uuid.UUID, body: ThemeLink, caller: Lead) -> Response:
        theme = await visible("themes", theme_id, caller)
        if theme is None:
            return problem(404, "Not found", f"no theme {theme_id}")
        trust = theme[0]
        # The incident is checked against the theme's trust by the service (404 otherwise); the
        # caller must also act for the incident's site.
        incident = await visible("incidents", body.incident_id, caller)
        if incident is not None and not caller.may_post_for(*incident):
            return problem(403, "Forbidden", f"these credentials do not act for site {incident[1]}")
        try:
            created = await theme_service.link(
                trust, theme_id, body.incident_id, linked_by_role=body.linked_by_role, actor=caller.subject
            )
        except (NotFoundError, IdentifiersFoundError) as exc:
            return _problem_for(exc)
        return await _theme(trust, theme_id, status=201 if created else 200)

    @router.post("/themes/{theme_id}/incidents/{incident_id}/unlink", responses={404: {}, 422: {}})
    async def unlink_incident(
        theme_id: uuid.UUID, incident_id: uuid.UUID, body: ThemeUnlink, caller: Lead
    ) -> Response:
        """Take an incident out of the theme (``IncidentUnlinkedFromTheme``); the theme's counts
        fall, and below two individuals code M is taken off its incidents. 200 with the theme, also
        when the incident was not linked (nothing is emitted)."""
        theme = await visible("themes", theme_id, caller)
        if theme is None:
            return problem(404, "Not found", f"no theme {theme_id}")
        trust = theme[0]
        incident = await visible("incidents", incident_id, caller)
        if incident is not None and not caller.may_post_for(*incident):
            return problem(403, "Forbidden", f"these credentials do not act for site {incident[1]}")
        try:
            await theme_service.unlink(
                trust,
                theme_id,
                incident_id,
                reason=body.reason,
                unlinked_by_role=body.unlinked_by_role,
                actor=caller.subject,
            )
        except (NotFoundError, IdentifiersFoundError) as exc:
            return _problem_for(exc)
        return await _theme(trust, theme_id)

    @router.post("/themes/{theme_id}/share", status_code=202, responses={404: {}})
    async def share_theme(theme_id: uuid.UUID, caller: Lead) -> Response:
        """Share the anonymised summary (counts, no incident ids) with consenting trusts."""
        theme = await writable("themes", theme_id, caller)
        if isinstance(theme, Response):
            return theme
        try:
            summary = await theme_service.share(theme[0], theme_id, actor=caller.subject)
        except NotFoundError as exc:
            return _problem_for(exc)
        return JSONResponse(summary, status_code=202)

    @router.get("/shared-themes")
    async def shared_themes(caller: SharedReader) -> JSONResponse:
        """Other trusts' shared theme summaries; empty unless the caller's trust consented."""
        trust = one_trust(caller)
        async with runtime.pool.acquire() as conn:
            consent = await theme_service.consent(conn, trust)
            items = await theme_service.shared_with(conn, trust)
        return JSONResponse({"consent": consent, "items": items})

    @router.put("/trusts/{trust_id}/shared-themes-consent", responses={404: {}})
    async def set_consent(trust_id: TrustPath, body: Consent, caller: Admin) -> Response:
        if not caller.sees(trust_id):
            return _no_such_trust(trust_id)
        trust = trust_id
        await theme_service.set_consent(trust, body.consent)
        return JSONResponse({"trust": trust, "consent": body.consent})

    async def _theme(trust: str, theme_id: uuid.UUID, status: int = 200) -> Response:
        async with runtime.pool.acquire() as conn:
            try:
                body = await theme_service.view(conn, trust, theme_id)
            except NotFoundError as exc:
                return _problem_for(exc)
        return JSONResponse(body, status_code=status)

    app.include_router(router)
    return app


def _sites_of_another_trust(sites: list[str]) -> JSONResponse:
    return problem(403, "Forbidden", f"site(s) {', '.join(sites)} belong to another trust's incidents")


def _no_such_trust(trust: str) -> JSONResponse:
    # 404 as in intake and deadlines: a 403 here would tell a caller which trust codes exist.
    return problem(404, "Not found", f"no trust {trust}")


def view_of(content: dict[str, Any]) -> DocumentView:
    if content["document"] == "notification":
        return notification_view(documents.NotificationDocument.model_validate(content))
    return report_view(documents.InvestigationReportDocument.model_validate(content))


def _summary(row: asyncpg.Record) -> dict[str, Any]:
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
    links = {
        "self": f"/v1/submissions/{sid}",
        "json": f"/v1/submissions/{sid}/document.json",
        "html": f"/v1/submissions/{sid}/document.html",
        "pdf": f"/v1/submissions/{sid}/document.pdf",
    }
    out["links"] = links
    return out


def _problem_for(exc: Exception) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return problem(404, "Not found", str(exc))
    if isinstance(exc, ConflictError):
        return problem(409, "Conflict", str(exc), **exc.extra)
    if isinstance(exc, IdentifiersFoundError):
        errors = [{"path": f"body/{f.path}", "message": f.message, "type": f.kind} for f in exc.found]
        return problem(
            422,
            "Identifiers are not allowed",
            "free text must not identify a patient or a member of staff; nothing was stored",
            errors=errors,
        )
    if isinstance(exc, IncompleteReportError):
        return problem(
            422,
            "Investigation report incomplete",
            f"{len(exc.missing)} item(s) the guidance requires are missing; nothing was sent",
            missing=exc.missing,
        )
    raise exc
