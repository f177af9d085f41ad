"""The console's FastAPI app: session, security headers, static files, pages, and the answers to
"sign in first", "bad form" and "no such page" as pages rather than JSON."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sievert_console.adapters.api import Apis
from sievert_console.adapters.live import follow
from sievert_console.domain.live import live_topics
from sievert_console.entrypoints import (
    actions,
    admin,
    case_actions,
    incident,
    live,
    queue,
    report_actions,
    shared_incidents,
    signin,
    themes,
    trends,
)
from sievert_console.entrypoints.context import (
    ConsoleParts,
    CsrfRefusedError,
    SignInRequiredError,
    is_htmx,
    render,
)
from sievert_shared.health import Check, health_router
from sievert_shared.http import install_http_conventions
from sievert_shared.metrics import ServiceMetrics, install_metrics
from sievert_shared.tracing import HttpTracing, propagate_trace

STATIC = Path(__file__).resolve().parent.parent / "static"
SESSION_COOKIE = "sievert_console"

# Scripts and styles only from the console itself (htmx is vendored), no framing, no inline script.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def _lifespan(console: ConsoleParts) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settings = console.settings
        stop = asyncio.Event()
        async with httpx.AsyncClient(
            timeout=settings.api_timeout_seconds,
            transport=console.transport,
            event_hooks={"request": [propagate_trace]},
        ) as http:
            console.apis = Apis.over(http, settings.services.model_dump())
            feed = None
            if settings.live_updates:
                topics = live_topics(settings.kafka.topics)
                feed = asyncio.create_task(
                    follow(settings.kafka, topics, console.hub, stop), name="live-feed"
                )
            try:
                yield
            finally:
                stop.set()
                if feed is not None:
                    await feed
                console.apis = None

    return lifespan


def _readiness(console: ConsoleParts) -> dict[str, Check]:
    """Ready when the services the pages need answer (the classifier is not one: decisions
    come from reporting's read model)."""
    apis = console.apis
    return {} if apis is None else {api.name: api.alive for api in apis.all()}


def _install_page_errors(app: FastAPI) -> None:
    @app.exception_handler(SignInRequiredError)
    async def _sign_in(request: Request, _exc: SignInRequiredError) -> Response:
        if is_htmx(request):  # a fragment: send the whole page to the sign-in form
            return Response(status_code=401, headers={"HX-Redirect": "/sign-in"})
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(CsrfRefusedError)
    async def _csrf(request: Request, _exc: CsrfRefusedError) -> Response:
        return render(request, "error.html", {"title": "Form expired", "text": _CSRF_TEXT}, status_code=403)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        text = "; ".join(f"{'/'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return render(request, "error.html", {"title": "Bad request", "text": text}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = "Page not found" if exc.status_code == 404 else "Request refused"
        return render(
            request, "error.html", {"title": title, "text": str(exc.detail)}, status_code=exc.status_code
        )


_CSRF_TEXT = (
    "This form was not sent from a page of your current session. Go back, reload the page and try again."
)


def create_app(console: ConsoleParts) -> FastAPI:
    settings = console.settings
    app = FastAPI(
        title="Sievert console",
        lifespan=_lifespan(console),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.console = console
    install_http_conventions(app)  # correlation ids through to every service's logs
    install_metrics(app, ServiceMetrics("console"))
    app.add_middleware(HttpTracing, service="console")
    _install_page_errors(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.production,
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(health_router(lambda: _readiness(console)))
    routers = [signin.router, queue.router, incident.router, actions.router, case_actions.router]
    routers += [report_actions.router]
    routers += [admin.router, admin.actions]
    routers += [
        themes.router,
        themes.actions,
        trends.router,
        live.router,
        shared_incidents.router,
    ]
    for router in routers:
        app.include_router(router)
    return app
