"""What every page and action needs: the console's parts, the signed-in person, the token to call
the APIs as them, the CSRF check, and rendering.

All of it reaches the routes through FastAPI dependencies (``Annotated`` aliases below).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import httpx
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from sievert_console.adapters.api import ApiProblem, Apis, Caller, ServiceDown
from sievert_console.adapters.dev_tokens import DevIssuer
from sievert_console.adapters.live import LiveHub
from sievert_console.adapters.oidc import OidcSignIn
from sievert_console.domain.people import Person
from sievert_console.settings import ConsoleSettings
from sievert_shared.clock import Clock

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass
class ConsoleParts:
    """Built once by ``bootstrap``; the HTTP client inside ``apis`` opens in the lifespan."""

    settings: ConsoleSettings
    templates: Jinja2Templates
    hub: LiveHub
    clock: Clock
    dev_issuer: DevIssuer | None = None
    oidc: OidcSignIn | None = None
    #: how the APIs are reached; None: over the network (tests pass the services in process)
    transport: httpx.AsyncBaseTransport | None = None
    apis: Apis | None = field(default=None)

    def api(self) -> Apis:
        if self.apis is None:
            raise RuntimeError("the console's HTTP client is not open (outside the app's lifespan)")
        return self.apis


class SignInRequiredError(Exception):
    """No one is signed in, or their token has expired: answered with the sign-in page."""


class CsrfRefusedError(Exception):
    """A form without this session's CSRF token: answered with 403."""


def parts(request: Request) -> ConsoleParts:
    found: ConsoleParts = request.app.state.console
    return found


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def current_person(request: Request) -> Person:
    data = request.session.get("person")
    if not isinstance(data, dict):
        raise SignInRequiredError
    return Person.from_session(data)


def caller_for(request: Request, person: Annotated[Person, Depends(current_person)]) -> Caller:
    """The person's token: minted for this request in development, the provider's in production."""
    console = parts(request)
    correlation_id = getattr(request.state, "correlation_id", None)
    if person.via == "development":
        if console.dev_issuer is None:
            raise SignInRequiredError  # the key is gone (a restart without it): sign in again
        token = console.dev_issuer.token(
            person.subject, trust=person.trust, roles=person.roles, now=console.clock.now()
        )
        return Caller(token, correlation_id)
    access_token = request.session.get("access_token")
    expires_at = request.session.get("expires_at", 0)
    if not isinstance(access_token, str) or float(expires_at) <= time.time() + 10:
        request.session.pop("person", None)
        raise SignInRequiredError
    return Caller(access_token, correlation_id)


async def check_csrf(request: Request) -> None:
    """Every state-changing request carries the session's token, in the form or (htmx) a header."""
    expected = request.session.get("csrf")
    sent: str | None = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or sent is None or not hmac.compare_digest(expected, sent):
        raise CsrfRefusedError


Parts = Annotated[ConsoleParts, Depends(parts)]
PersonDep = Annotated[Person, Depends(current_person)]
CallerDep = Annotated[Caller, Depends(caller_for)]
CsrfChecked = Depends(check_csrf)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    console = parts(request)
    data = request.session.get("person")
    person = Person.from_session(data) if isinstance(data, dict) else None
    base = {
        "request": request,
        "person": person,
        "csrf_token": csrf_token(request),
        "now": console.clock.now(),
        "live_enabled": console.settings.live_updates,
    }
    return console.templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status_code, headers=headers
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


T = TypeVar("T")


@dataclass(frozen=True)
class Section(Generic[T]):
    """One part of a page: its data, or why it cannot be shown (the service is down, or the
    person's role may not read it). A page renders what it has and says what it lacks."""

    value: T | None = None
    down: str | None = None
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.down is None and self.refused is None


async def section(call: Awaitable[T]) -> Section[T]:
    try:
        return Section(value=await call)
    except ServiceDown as exc:
        return Section(down=exc.service)
    except ApiProblem as exc:
        if exc.status in (401, 403):
            return Section(refused=f"{exc.service}: {exc.detail}")
        raise


async def sections(*calls: Awaitable[Any]) -> list[Section[Any]]:
    return list(await asyncio.gather(*(section(c) for c in calls)))
