"""``/v1/trusts/{trust_id}/...``: what a trust's admin manages for the whole trust: activity counts
(the annual report's rates per 1,000 examinations) and consent to see other trusts' shared themes;
and the trust's radiotherapy events for the national analysis (``rte-export``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from sievert_reporting.adapters.activity_store import activity_of, store_activity
from sievert_reporting.adapters.read_model import rte_events, sites_of_other_trusts
from sievert_reporting.adapters.render import table_csv
from sievert_reporting.domain.activity import ActivityCount, InvalidActivityCountsError, parse_csv, parse_rows
from sievert_reporting.domain.annual import Period, parse_period
from sievert_reporting.domain.rte_export import export_tables, rte_export
from sievert_reporting.domain.taxonomy import packaged
from sievert_reporting.entrypoints.deps import (
    Admin,
    Pool,
    Reader,
    Themes,
    TrustPath,
    refuse_sites_of_another_trust,
    trust_of_path,
)
from sievert_shared.auth import Principal
from sievert_shared.errors import ForbiddenError, ProblemError, UnprocessableError

router = APIRouter(prefix="/v1")


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

    consent: StrictBool = Field(description="See (and so receive) other trusts' shared theme summaries.")


class UnsupportedMediaTypeError(ProblemError):
    status = 415
    title = "Unsupported media type"


_ACTIVITY_BODY = {
    "requestBody": {
        "content": {
            "text/csv": {"schema": {"type": "string", "description": "site,modality,examinations"}},
            "application/json": {"schema": ActivityBody.model_json_schema()},
        }
    }
}


@router.post(
    "/trusts/{trust_id}/activity",
    responses={403: {}, 404: {}, 415: {}, 422: {}},
    openapi_extra=_ACTIVITY_BODY,
)
async def load_activity(
    trust_id: TrustPath,
    caller: Admin,
    request: Request,
    year: Annotated[str, Query(max_length=7, description="2024/25 (financial) or 2024 (calendar)")],
    *,
    pool: Pool,
) -> JSONResponse:
    """Examinations per site and modality for a year, as CSV (the CLI's ``--activity`` file)
    or JSON ``{"items": [{site, modality, examinations}]}``: the annual report's rates per
    1,000 examinations. Loading a site and modality again replaces its count."""
    trust = trust_of_path(trust_id, caller)
    period = _period(year)
    counts = await _activity_counts(request)
    _refuse_sites_not_acted_for(caller, trust, counts)
    async with pool.acquire() as conn, conn.transaction():
        refuse_sites_of_another_trust(
            await sites_of_other_trusts(conn, trust, sorted({c.site for c in counts}))
        )
        await store_activity(conn, trust, period, counts)
    return JSONResponse({"trust": trust, "year": period.label, "loaded": len(counts)})


@router.get("/trusts/{trust_id}/activity", responses={404: {}, 422: {}})
async def get_activity(
    trust_id: TrustPath, caller: Reader, year: Annotated[str, Query(max_length=7)], *, pool: Pool
) -> JSONResponse:
    trust = trust_of_path(trust_id, caller)
    period = _period(year)
    async with pool.acquire() as conn:
        items = await activity_of(conn, trust, period)
    return JSONResponse({"trust": trust, "year": period.label, "items": items})


@router.put("/trusts/{trust_id}/shared-themes-consent", responses={404: {}})
async def set_consent(trust_id: TrustPath, body: Consent, caller: Admin, service: Themes) -> JSONResponse:
    trust = trust_of_path(trust_id, caller)
    await service.set_consent(trust, body.consent)
    return JSONResponse({"trust": trust, "consent": body.consent})


@router.get(
    "/trusts/{trust_id}/rte-export",
    responses={404: {}, 422: {}, 200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def rte_export_of(
    trust_id: TrustPath,
    caller: Reader,
    start: Annotated[dt.date, Query(alias="from", description="First day of discovery (inclusive).")],
    end: Annotated[dt.date, Query(alias="to", description="Last day of discovery (inclusive).")],
    *,
    pool: Pool,
    format: Annotated[
        Literal["json", "csv"], Query(description="json: events and monthly; csv: one table")
    ] = "json",
    table: Annotated[Literal["events", "monthly"], Query(description="The CSV's table.")] = "events",
) -> Response:
    """The trust's radiotherapy events coded in the national radiotherapy event taxonomy, and their
    monthly aggregates per provider (level, process subcodes, failed safety barriers, causative
    factors, method of detection), anonymised: no incident id, no day, no free text."""
    trust = trust_of_path(trust_id, caller)
    if end < start:
        detail = f"'to' ({end}) is before 'from' ({start})"
        raise UnprocessableError(detail, errors=[{"path": "query/to", "message": detail}])
    async with pool.acquire() as conn:
        events = await rte_events(conn, trust, start, end)
    export = rte_export(trust, start, end, events, packaged())
    if format == "csv":
        return PlainTextResponse(table_csv(export_tables(export)[table]), media_type="text/csv")
    return JSONResponse(export)


def _period(year: str) -> Period:
    try:
        return parse_period(year)
    except ValueError as exc:
        raise UnprocessableError(str(exc), errors=[{"path": "query/year", "message": str(exc)}]) from exc


async def _activity_counts(request: Request) -> list[ActivityCount]:
    """The counts in the body, as CSV or JSON; every bad row named."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    try:
        if content_type == "text/csv":
            return parse_csv(raw.decode("utf-8-sig"))
        if content_type == "application/json":
            body = ActivityBody.model_validate_json(raw)
            return parse_rows([item.model_dump() for item in body.items])
    except (ValidationError, UnicodeDecodeError) as exc:
        raise InvalidActivityCountsError(str(exc).splitlines()[0]) from exc
    raise UnsupportedMediaTypeError("send text/csv or application/json")


def _refuse_sites_not_acted_for(caller: Principal, trust: str, counts: list[ActivityCount]) -> None:
    refused = sorted({c.site for c in counts if not caller.may_post_for(trust, c.site)})
    if refused:
        raise ForbiddenError(f"these credentials do not act for site(s) {', '.join(refused)}")
