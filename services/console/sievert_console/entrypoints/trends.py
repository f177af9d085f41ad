"""Trends (reporting's ``GET /v1/trusts/{trust}/analysis``): the trust's trend analysis for a year,
month by month and over five years, by code, modality, cause and site, with rates per 1,000
examinations, timeliness and the national comparison; its tables as CSV downloads. The charts are
SVG drawn here from the answer (``domain.trends``), so the page needs no script."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from sievert_console.adapters.api import ApiProblem, ServiceDown
from sievert_console.domain.trends import CLASSES, category_bars, monthly_columns, shared_scale, years_offered
from sievert_console.entrypoints.context import CallerDep, Parts, PersonDep, Section, render, section

router = APIRouter(prefix="/trends")

YEAR = r"^\d{4}(/\d{2})?$"
Year = Annotated[str | None, Query(max_length=7, pattern=YEAR)]


def _charts(analysis: dict[str, Any]) -> dict[str, Any]:
    words = {c["class"]: c["label"] for c in analysis["classes"]}
    months = analysis["monthly"]["months"]
    scale = shared_scale([site["series"] for site in analysis["sites_monthly"]])
    return {
        "words": words,
        "colours": dict(CLASSES),
        "monthly": monthly_columns(analysis["monthly"]["months"], analysis["monthly"]["series"], words),
        "five_years": monthly_columns(
            analysis["five_years"]["months"], analysis["five_years"]["series"], words
        ),
        "breakdowns": {b["dimension"]: category_bars(b["items"], words) for b in analysis["breakdowns"]},
        "sites": [
            (
                site["site"],
                monthly_columns(months, site["series"], words, small=True, scale=scale, heading=site["site"]),
            )
            for site in analysis["sites_monthly"]
        ],
        "modality_words": {
            item["value"]: item["label"]
            for b in analysis["breakdowns"]
            if b["dimension"] == "modality"
            for item in b["items"]
        },
    }


@router.get("")
async def trends_page(
    request: Request, console: Parts, caller: CallerDep, person: PersonDep, year: Year = None
) -> Response:
    offered = years_offered(console.clock.now().date())
    chosen = year or offered[0]
    path = f"/v1/trusts/{person.trust}/analysis"
    analysis: Section[dict[str, Any]] | None = None
    problem: str | None = None
    try:
        analysis = await section(console.api().reporting.json(caller, "GET", path, params={"year": chosen}))
    except ApiProblem as refused:  # a year reporting does not read (422): said on the page
        problem = refused.detail
    context: dict[str, Any] = {
        "section": "trends",
        "year": chosen,
        "years": offered if chosen in offered else [chosen, *offered],
        "analysis": analysis,
        "problem": problem,
    }
    if analysis is not None and analysis.ok and analysis.value is not None:
        context["charts"] = _charts(analysis.value)
        context["modality_words"] = context["charts"]["modality_words"]
    return render(request, "trends.html", context)


@router.get("/{table}.csv")
async def trends_csv(
    table: str, console: Parts, caller: CallerDep, person: PersonDep, year: Year = None
) -> Response:
    """One table of the analysis as reporting renders it, as a download."""
    if not re.fullmatch(r"[a-z0-9_]{1,64}", table) or year is None:
        return Response("Ask for a table by name and a year.", status_code=404, media_type="text/plain")
    params = {"year": year, "format": "csv", "table": table}
    try:
        answer = await console.api().reporting.request(
            caller, "GET", f"/v1/trusts/{person.trust}/analysis", params=params
        )
    except ServiceDown:
        return Response("The reporting service is not answering.", status_code=503, media_type="text/plain")
    except ApiProblem as refused:
        return Response(refused.detail, status_code=refused.status, media_type="text/plain")
    filename = f"trends-{person.trust}-{year.replace('/', '-')}-{table}.csv"
    return Response(
        answer.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
