"""``GET /v1/trusts/{trust_id}/analysis``: the trust's trend analysis for a year, the figures
``sievert report annual`` writes: JSON by default; one table as CSV, or the whole as HTML or PDF
(with its charts), by ``format`` or the ``Accept`` header."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from sievert_reporting.adapters import charts, render
from sievert_reporting.domain.analysis import analysis_span
from sievert_reporting.domain.analysis_view import analysis_view
from sievert_reporting.domain.annual import Period, parse_period
from sievert_reporting.entrypoints.deps import Pool, Reader, TrustPath, trust_of_path
from sievert_reporting.service_layer.analysis import read_analysis
from sievert_shared.errors import NotFoundError, UnprocessableError
from sievert_shared.runtime import ServiceRuntime

router = APIRouter(prefix="/v1")

_LONDON = ZoneInfo("Europe/London")
Format = Literal["json", "csv", "html", "pdf"]
_BY_ACCEPT: dict[str, Format] = {
    "text/csv": "csv",
    "text/html": "html",
    "application/pdf": "pdf",
    "application/json": "json",
}


def _today(request: Request) -> dt.date:
    """Today in London by the service's clock: the day an overdue window counts its days to."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime.clock.now().astimezone(_LONDON).date()


Today = Annotated[dt.date, Depends(_today)]


class UnknownTableError(NotFoundError):
    pass


def _period(year: str) -> Period:
    """The year asked for, whose five years the calendar holds (year 1 has no year before it)."""
    try:
        period = parse_period(year)
        analysis_span(period)
        return period
    except ValueError as exc:
        raise UnprocessableError(str(exc), errors=[{"path": "query/year", "message": str(exc)}]) from exc


def _format(asked: Format | None, accept: str | None) -> Format:
    if asked is not None:
        return asked
    for media in (accept or "").split(","):
        if (found := _BY_ACCEPT.get(media.split(";")[0].strip().lower())) is not None:
            return found
    return "json"


@router.get(
    "/trusts/{trust_id}/analysis",
    responses={
        200: {"content": {"text/csv": {}, "text/html": {}, "application/pdf": {}}},
        404: {},
        422: {},
    },
)
async def get_analysis(
    trust_id: TrustPath,
    caller: Reader,
    today: Today,
    year: Annotated[str, Query(max_length=7, description="2024/25 (financial) or 2024 (calendar)")],
    *,
    pool: Pool,
    format: Annotated[Format | None, Query(description="json (default), csv, html or pdf")] = None,
    table: Annotated[
        str, Query(max_length=64, pattern=r"^[a-z0-9_]+$", description="the table for csv, e.g. monthly")
    ] = "monthly",
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Counts month by month and over five years, by code, modality, cause and site, rates per
    1,000 examinations, timeliness and the national comparison. A year without incidents answers
    an analysis of nothing, not an error."""
    trust = trust_of_path(trust_id, caller)
    period = _period(year)
    async with pool.acquire() as conn:
        report = await read_analysis(conn, trust, period, today)
    chosen = _format(format, accept)
    if chosen == "json":
        return JSONResponse(report)
    if chosen == "csv":
        tables = {t.name: t for t in analysis_view(report).tables()}
        if table not in tables:
            raise UnknownTableError(f"no table {table}: the tables are {', '.join(sorted(tables))}")
        filename = f"analysis-{trust}-{period.label.replace('/', '-')}-{table}.csv"
        return Response(
            render.table_csv(tables[table]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    if chosen == "html":
        return Response(render.to_html(analysis_view(report)), media_type="text/html; charset=utf-8")
    return Response(await asyncio.to_thread(_pdf, report), media_type="application/pdf")


#: matplotlib's pyplot keeps global state: one drawing at a time
_DRAWING = threading.Lock()


def _pdf(report: dict[str, Any]) -> bytes:
    """The PDF with its charts, drawn into a folder that lives as long as the rendering."""
    with _DRAWING, tempfile.TemporaryDirectory(prefix="sievert-analysis-") as folder:
        images = charts.analysis_charts(report, Path(folder))
        return render.to_pdf(analysis_view(report, images), image_dir=Path(folder))
