"""Pages not built yet, said plainly rather than left broken."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.entrypoints.context import render

router = APIRouter()

#: What each page will show, and the API it will read, so a person knows where to look today.
#: (Every page is built now; a page added to the navigation before its API exists goes here.)
NOT_YET: Mapping[str, tuple[str, str]] = {}


def _not_yet(request: Request, key: str) -> Response:
    title, text = NOT_YET[key]
    return render(request, "not_yet.html", {"title": title, "text": text, "section": key})
