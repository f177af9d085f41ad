"""``POST /v1/incidents:batch``: bulk intake, one NDJSON file of incident reports.

Each line is one report exactly as ``POST /v1/incidents`` takes it (same model, validation,
tenancy and identifier encryption), answered for itself in one JSON document: its line number,
its status (202 stored now, 200 stored before and answered again, each with the single route's
answer; 4xx with a problem naming the line and the fields) and, once stored, its incident id. A
bad line never costs the good ones, and every 202 line is committed (event and outbox row)
before the answer leaves. The request is answered 200 when any line was stored (now or before);
when none was, with the lines' common status (else 422) as a problem carrying the same members,
so a caller that may store nothing (another trust's lines) is never told "OK".

Idempotency per line: the file's ``Idempotency-Key`` header gives line ``n`` its own key
(``<key>#<n>``), so a retried file gets every line's first answer again and stores nothing twice
(a changed line under a retried key is a 409 for that line). Without a header, a line's
``source_message_id`` dedupes it as it does on the single route.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from sievert_intake.domain.batch import BatchRefusedError, Line, split_lines
from sievert_intake.domain.commands import ReportIncident, RequestContext
from sievert_intake.domain.incident import IncidentReport, parsed_hash
from sievert_intake.entrypoints.deps import (
    BatchLimitsDep,
    CorrelationIdDep,
    IdempotencyKey,
    IntakeDep,
    SiteOwnersDep,
    Writer,
    scoped_idempotency_key,
)
from sievert_intake.service_layer.intake import Accepted
from sievert_intake.settings import BATCH_PATH
from sievert_shared.errors import ForbiddenError, ProblemError
from sievert_shared.http import problem
from sievert_shared.input_guard import MAX_JSON_DEPTH
from sievert_shared.logging import get_logger

router = APIRouter()
log = get_logger(__name__)

_LINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["line", "status"],
    "properties": {
        "line": {"type": "integer", "description": "1-based line number in the file"},
        "status": {"type": "integer", "description": "202 stored, 200 stored before (same answer), else 4xx"},
        "incident_id": {"type": "string", "format": "uuid"},
        "event_id": {"type": "string", "format": "uuid"},
        "stream_version": {"type": "integer"},
        "patient_pseudonym": {"type": "string"},
        "problem": {"$ref": "#/components/schemas/Problem"},
    },
}
_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["accepted", "refused", "lines"],
    "properties": {
        "accepted": {"type": "integer"},
        "refused": {"type": "integer"},
        "lines": {"type": "array", "items": _LINE_SCHEMA},
    },
}
_NDJSON_BODY: dict[str, Any] = {
    "required": True,
    "description": "One IncidentReport (as POST /v1/incidents takes it) per line.",
    "content": {
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}


@router.post(
    BATCH_PATH,
    status_code=200,
    responses={
        200: {
            "description": "Each line's answer",
            "content": {"application/json": {"schema": _ANSWER_SCHEMA}},
        },
        400: {},
        409: {},
        413: {},
        422: {},
    },
    openapi_extra={"requestBody": _NDJSON_BODY},
)
async def report_batch(
    request: Request,
    intake: IntakeDep,
    caller: Writer,
    owners: SiteOwnersDep,
    limits: BatchLimitsDep,
    correlation_id: CorrelationIdDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Record many incidents from one NDJSON file (``Content-Type: application/x-ndjson``), each
    line committed with its event and outbox row in chunks. The answer (200, JSON) lists every
    non-blank line in order: ``{"line", "status": 202, "incident_id", "event_id",
    "stream_version"[, "patient_pseudonym"]}`` or ``{"line", "status": 4xx, "problem"}``.
    The whole file is refused only when empty (400) or over the line or byte limit (413)."""
    try:
        lines = split_lines(await request.body(), max_lines=limits.max_lines, max_depth=MAX_JSON_DEPTH)
    except BatchRefusedError as exc:
        return problem(exc.status, "Payload too large" if exc.status == 413 else "Bad request", exc.detail)
    key = scoped_idempotency_key(caller, idempotency_key)
    answers: dict[int, dict[str, Any]] = {}
    commands: list[ReportIncident] = []
    numbers: list[int] = []
    others: dict[tuple[str, str], bool] = {}  # (trust, site) -> registered to another trust
    for line in lines:
        report = _report_of(line, answers)
        if report is None:
            continue
        refusal = await _tenancy_refusal(
            report, caller.may_post_for(report.trust, report.site), owners, others
        )
        if refusal is not None:
            answers[line.number] = _refused(line.number, refusal)
            continue
        context = RequestContext(
            correlation_id=correlation_id,
            actor=caller.subject,
            idempotency_key=None if key is None else f"{key}#{line.number}",
            request_hash=parsed_hash(line.value),
        )
        commands.append(ReportIncident(report, context))
        numbers.append(line.number)
    results = await intake.execute_reports(commands, chunk_lines=limits.chunk_lines) if commands else []
    for number, result in zip(numbers, results, strict=True):
        answers[number] = _answer(number, result)
    ordered = [answers[line.number] for line in lines]
    accepted = sum(1 for a in ordered if a["status"] < 300)
    log.info("intake.batch_answered", lines=len(ordered), accepted=accepted)
    counts = {"accepted": accepted, "refused": len(ordered) - accepted, "lines": ordered}
    if accepted:
        return JSONResponse(counts)
    statuses = {a["status"] for a in ordered}
    status = statuses.pop() if len(statuses) == 1 else 422
    title = ordered[0]["problem"]["title"] if status == ordered[0]["status"] else "Invalid request"
    return problem(status, title, f"none of the {len(ordered)} lines was stored", **counts)


def _report_of(line: Line, answers: dict[int, dict[str, Any]]) -> IncidentReport | None:
    """The line's report, or None with its problem in ``answers``."""
    if line.problem is not None:
        p = line.problem
        answers[line.number] = _line_problem(line.number, p.status, p.title, p.detail, p.errors)
        return None
    try:
        return IncidentReport.model_validate(line.value)
    except ValidationError as exc:
        errors = [
            {
                "path": "/".join(["body", *(str(part) for part in err["loc"])]),
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
        detail = f"line {line.number}: {len(errors)} field(s) are invalid; the line was not stored"
        answers[line.number] = _line_problem(line.number, 422, "Invalid request", detail, errors)
        return None


async def _tenancy_refusal(
    report: IncidentReport, allowed: bool, owners: Any, others: dict[tuple[str, str], bool]
) -> ProblemError | None:
    """The single route's refusals: a trust or site the caller may not report for, or a site
    another trust registered (looked up once per site per file)."""
    if not allowed:
        return ForbiddenError(f"these credentials may not report for trust {report.trust} site {report.site}")
    where = (report.trust, report.site)
    if where not in others:
        others[where] = await owners.of_another_trust(*where)
    if others[where]:
        return ForbiddenError(f"site {report.site} is registered to another trust")
    return None


def _answer(number: int, result: Accepted | Exception) -> dict[str, Any]:
    if isinstance(result, Accepted):
        return {"line": number, "status": 200 if result.duplicate else 202, **result.answer}
    if isinstance(result, ProblemError):
        return _refused(number, result)
    if isinstance(result, asyncio.CancelledError):  # pragma: no cover - not an Exception
        raise result
    log.warning("intake.batch_line_failed", line=number, error=repr(result))
    return _line_problem(number, 503, "Service unavailable", f"line {number} was not stored; send it again")


def _refused(number: int, exc: ProblemError) -> dict[str, Any]:
    return _line_problem(number, exc.status, exc.title, f"line {number}: {exc.detail}", **exc.extra)


def _line_problem(
    number: int, status: int, title: str, detail: str, errors: Any = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return {"line": number, "status": status, "problem": body}
