"""Pages not built yet, said plainly rather than left broken, and health."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.entrypoints.context import PersonDep, render

router = APIRouter()

#: What each page will show, and the API it will read, so a person knows where to look today.
NOT_YET: Mapping[str, tuple[str, str]] = {
    "themes": (
        "Themes",
        "Thematic reviews across the trust's sites (open, link and unlink incidents, share anonymised "
        "summaries) are served by reporting's /v1/themes API; the console's pages for them are not built yet.",
    ),
    "trends": (
        "Trends",
        "The annual trend analysis (counts, rates per 1,000 examinations, charts, CSV) is produced by "
        "`sievert report annual`; the console's page for it is not built yet.",
    ),
}


def _not_yet(request: Request, key: str) -> Response:
    title, text = NOT_YET[key]
    return render(request, "not_yet.html", {"title": title, "text": text, "section": key})


@router.get("/themes")
async def themes(request: Request, _person: PersonDep) -> Response:
    return _not_yet(request, "themes")


@router.get("/trends")
async def trends(request: Request, _person: PersonDep) -> Response:
    return _not_yet(request, "trends")
