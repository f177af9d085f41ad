"""Server-sent events: the changes of the person's trust, as names their page's fragments listen
for (``queue``, ``incident-<id>``, ``themes``, ``resync``).

sse-starlette rather than a hand-rolled ``StreamingResponse``: it frames events, sends keep-alive
pings (proxies close idle streams), and stops the generator when the browser goes away.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse

from sievert_console.adapters.api import ApiProblem, ServiceDown
from sievert_console.adapters.live import RESYNC, Subscription
from sievert_console.domain.live import Change
from sievert_console.domain.people import Person
from sievert_console.entrypoints.context import ConsoleParts, Parts, PersonDep, caller_for

router = APIRouter()

#: How long a decision's signal waits for reporting's read model to show it.
CATCH_UP_SECONDS = 3.0
_ids = itertools.count(1)


async def _reporting_caught_up(
    request: Request, console: ConsoleParts, person: Person, change: Change
) -> None:
    """Pages read decisions from reporting's read model, which consumes the same topic as the
    console: poll it (briefly) until it shows this decision, so the page does not re-read the
    old one and then miss the new."""
    assert change.incident_id is not None and change.decision_facts_version is not None
    incident = uuid.UUID(change.incident_id)
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while time.monotonic() < deadline:
        try:
            row = await console.api().reporting.incident(caller_for(request, person), incident)
        except (ServiceDown, ApiProblem):
            return  # the page will show what it can; nothing to wait for
        decision = (row or {}).get("decision") or {}
        if int(decision.get("facts_version") or 0) >= change.decision_facts_version:
            return
        await asyncio.sleep(0.1)  # a poll interval, not a wait for the change


async def _events(
    request: Request, console: ConsoleParts, person: Person, subscription: Subscription, resync: bool
) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(data="connected", event="ready", id=str(next(_ids)), retry=2000)
    if resync:
        yield ServerSentEvent(data="reconnected", event=RESYNC, id=str(next(_ids)))
    while True:
        item = await subscription.queue.get()
        if isinstance(item, str):
            yield ServerSentEvent(data=item, event=item, id=str(next(_ids)))
            continue
        if item.decision_facts_version is not None:
            await _reporting_caught_up(request, console, person, item)
        for signal in item.signals:
            yield ServerSentEvent(data=item.event_type, event=signal, id=str(next(_ids)))


def _since(raw: str) -> float:
    """The page's render time (seconds since the epoch); 0 (so: catch up) when absent or bad."""
    try:
        return float(raw)
    except ValueError:
        return 0.0


@router.get("/live")
async def live(request: Request, console: Parts, person: PersonDep) -> EventSourceResponse:
    """The person's trust's changes. On a reconnection (the browser sends Last-Event-ID), or
    when the trust changed since the page was rendered (``since``), the first event is
    ``resync``: the page re-fetches every fragment, catching up on what it missed."""
    caller_for(request, person)  # signed out or expired: refuse before streaming
    since = _since(request.query_params.get("since", ""))
    reconnected = "last-event-id" in request.headers

    async def stream() -> AsyncIterator[ServerSentEvent]:
        # Subscribe first, then look back: a change in between is both seen and caught up on.
        with console.hub.subscribe(person.trust) as subscription:
            resync = reconnected or console.hub.changed_after(person.trust, since)
            async for event in _events(request, console, person, subscription, resync):
                yield event

    return EventSourceResponse(
        stream(), ping=15, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
