"""The work queue page, and its rows as a fragment (what a live update re-fetches)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sievert_console.adapters.api import Apis, Caller
from sievert_console.domain.labels import AUTHORITIES, MODALITIES
from sievert_console.domain.queue import (
    FLAG_LABELS,
    SHOW_LABELS,
    STATE_LABELS,
    QueueFilter,
    Show,
    build_queue,
    incidents_to_check_for_facts,
)
from sievert_console.entrypoints.context import CallerDep, Parts, PersonDep, Section, render, section

router = APIRouter()

INCIDENT_PAGE = 200  # reporting's incidents read per queue load (newest discovery first)
FACT_CHECKS = 25  # decisions read per load to find missing facts (the list does not carry them)


async def _needs_facts(
    apis: Apis, caller: Caller, incidents: Sequence[dict[str, Any]]
) -> dict[str, list[str]]:
    ids = incidents_to_check_for_facts(incidents, FACT_CHECKS)
    found = await asyncio.gather(*(apis.reporting.incident(caller, uuid.UUID(i)) for i in ids))
    return {
        i: list((row or {}).get("decision", {}).get("needs_facts") or [])
        for i, row in zip(ids, found, strict=True)
    }


async def _queue_context(request: Request, console: Parts, caller: Caller) -> dict[str, Any]:
    where = QueueFilter.from_query(request.query_params)
    apis = console.api()
    incidents, windows, tasks = await asyncio.gather(
        section(apis.reporting.incidents(caller, where.reporting_params(), INCIDENT_PAGE)),
        section(apis.deadlines.windows(caller, where.deadlines_params())),
        section(apis.deadlines.tasks(caller, where.deadlines_params())),
    )
    needs: Section[dict[str, list[str]]] = Section(value={})
    if incidents.ok and incidents.value:
        needs = await section(_needs_facts(apis, caller, incidents.value))
    queue = None
    if incidents.ok or windows.ok:
        queue = build_queue(
            incidents.value or [],
            windows.value or [],
            needs.value or {},
            where=where,
            now=console.clock.now(),
            tasks=tasks.value or [],
        )
    return {
        "where": where,
        "queue": queue,
        "incidents": incidents,
        "windows": windows,
        "tasks": tasks,
        "show_labels": SHOW_LABELS,
        "state_labels": STATE_LABELS,
        "flag_labels": FLAG_LABELS,
        "shows": list(Show),
        "authorities": AUTHORITIES,
        "modalities": MODALITIES,
    }


@router.get("/")
async def home(_person: PersonDep) -> Response:
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue")
async def queue_page(request: Request, console: Parts, caller: CallerDep) -> Response:
    return render(request, "queue.html", await _queue_context(request, console, caller))


@router.get("/queue/rows")
async def queue_rows(request: Request, console: Parts, caller: CallerDep) -> Response:
    return render(request, "fragments/queue_rows.html", await _queue_context(request, console, caller))
