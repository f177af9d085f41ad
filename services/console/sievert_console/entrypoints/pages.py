"""Pages not built yet, said plainly rather than left broken."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.entrypoints.context import PersonDep, render

router = APIRouter()

#: What each page will show, and the API it will read, so a person knows where to look today.
NOT_YET: Mapping[str, tuple[str, str]] = {
    "trends": (
        "Trends",
        "The annual trend analysis (counts, rates per 1,000 examinations, charts, CSV tables) is produced "
        "by the command `sievert report annual --trust T --year 2024/25`. It has no HTTP API yet, so the "
        "console, which only calls the services' APIs, cannot show it.",
    ),
}


def _not_yet(request: Request, key: str) -> Response:
    title, text = NOT_YET[key]
    return render(request, "not_yet.html", {"title": title, "text": text, "section": key})


@router.get("/trends")
async def trends(request: Request, _person: PersonDep) -> Response:
    return _not_yet(request, "trends")
