"""Thematic reviews (reporting's ``/v1/themes``): the trust's themes, one theme across the trust's
sites with its incidents and counts, and other trusts' anonymised shared themes. The lists follow
``ThemeUpdated`` live; forms re-render their card and tell the lists to fetch themselves again.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.adapters.api import ApiProblem, Apis, Caller, ServiceDown
from sievert_console.domain.admin import field_messages
from sievert_console.entrypoints.context import CallerDep, CsrfChecked, Parts, render, section, sections

router = APIRouter(prefix="/themes")
actions = APIRouter(prefix="/themes", dependencies=[CsrfChecked])

#: A theme changed: the cards listing it fetch themselves again.
THEMES_CHANGED = {"HX-Trigger": "themes-changed"}


def _form(raw: Any) -> dict[str, str]:
    return {key: value for key, value in raw.items() if isinstance(value, str)}


async def _outcome(call: Any, done: str) -> dict[str, Any]:
    try:
        result = await call
    except ServiceDown as exc:
        return {"problem": f"The {exc.service} service is not answering; nothing was changed."}
    except ApiProblem as refused:
        return {"problem": refused.detail, "errors": field_messages(refused.errors)}
    return {"message": done, "result": result}


async def _list_context(apis: Apis, caller: Caller, **state: Any) -> dict[str, Any]:
    themes, shared = await sections(apis.reporting.themes(caller), apis.reporting.shared_themes(caller))
    return {"themes": themes, "shared": shared, **state}


async def _theme_context(apis: Apis, caller: Caller, theme_id: uuid.UUID, **state: Any) -> dict[str, Any]:
    return {"theme_id": theme_id, "theme": await section(apis.reporting.theme(caller, theme_id)), **state}


@router.get("")
async def themes_page(request: Request, console: Parts, caller: CallerDep) -> Response:
    context = await _list_context(console.api(), caller, section="themes")
    return render(request, "themes.html", context)


@router.get("/list")
async def themes_list(request: Request, console: Parts, caller: CallerDep) -> Response:
    return render(request, "fragments/themes_list.html", await _list_context(console.api(), caller))


@router.get("/{theme_id}")
async def theme_page(request: Request, theme_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
    context = await _theme_context(console.api(), caller, theme_id, section="themes")
    if context["theme"].ok and context["theme"].value is None:
        return render(
            request, "error.html", {"title": "Theme not found", "text": _NOT_FOUND}, status_code=404
        )
    return render(request, "theme.html", context)


_NOT_FOUND = "There is no such theme that you may see. It may not exist, or it may belong to another trust."


@router.get("/{theme_id}/detail")
async def theme_detail(request: Request, theme_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
    context = await _theme_context(console.api(), caller, theme_id)
    return render(request, "fragments/theme_detail.html", context)


@actions.post("")
async def open_theme(request: Request, console: Parts, caller: CallerDep) -> Response:
    form = _form(await request.form())
    body = {k: form.get(k, "").strip() for k in ("site", "title", "description", "opened_by_role")}
    outcome = await _outcome(console.api().reporting.open_theme(caller, body), "Theme opened.")
    headers = THEMES_CHANGED if "message" in outcome else None
    context = {"outcome": outcome, "typed": {} if "message" in outcome else form}
    return render(request, "fragments/theme_open_form.html", context, headers=headers)


@actions.post("/{theme_id}/incidents")
async def link_incident(request: Request, theme_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
    form = _form(await request.form())
    try:
        incident_id = str(uuid.UUID(form.get("incident_id", "").strip()))
    except ValueError:
        outcome: dict[str, Any] = {
            "problem": "That is not an incident id: copy the full id from the incident's page."
        }
    else:
        body = {"incident_id": incident_id, "linked_by_role": form.get("linked_by_role", "").strip()}
        call = console.api().reporting.link(caller, theme_id, body)
        outcome = await _outcome(call, "Incident linked to the theme.")
    context = await _theme_context(console.api(), caller, theme_id, outcome=outcome)
    return render(request, "fragments/theme_detail.html", context, headers=_changed(outcome))


@actions.post("/{theme_id}/incidents/{incident_id}/unlink")
async def unlink_incident(
    request: Request, theme_id: uuid.UUID, incident_id: uuid.UUID, console: Parts, caller: CallerDep
) -> Response:
    form = _form(await request.form())
    body = {
        "reason": form.get("reason", "").strip(),
        "unlinked_by_role": form.get("unlinked_by_role", "").strip(),
    }
    call = console.api().reporting.unlink(caller, theme_id, incident_id, body)
    outcome = await _outcome(call, "Incident taken out of the theme.")
    context = await _theme_context(console.api(), caller, theme_id, outcome=outcome)
    return render(request, "fragments/theme_detail.html", context, headers=_changed(outcome))


@actions.post("/{theme_id}/share")
async def share_theme(request: Request, theme_id: uuid.UUID, console: Parts, caller: CallerDep) -> Response:
    call = console.api().reporting.share(caller, theme_id)
    outcome = await _outcome(
        call, "Shared: consenting trusts see the title, description and counts, nothing else."
    )
    context = await _theme_context(console.api(), caller, theme_id, outcome=outcome)
    return render(request, "fragments/theme_detail.html", context, headers=_changed(outcome))


def _changed(outcome: dict[str, Any]) -> dict[str, str] | None:
    return THEMES_CHANGED if "message" in outcome else None
