"""HTTP conventions every service shares: correlation ids and RFC 9457 problem details."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sievert_shared.errors import ProblemError
from sievert_shared.logging import get_logger
from sievert_shared.openapi_answers import allowed_methods
from sievert_shared.unavailable import install_unavailable_handlers

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"

log = get_logger(__name__)


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


class CorrelationMiddleware:
    """Carry ``X-Correlation-ID`` from the request (or a new one) into logs, ``request.state`` and
    the response. Plain ASGI rather than ``BaseHTTPMiddleware``: that one costs a task and two
    memory streams per request, which measurably capped intake's throughput (bench/README.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(CORRELATION_HEADER, "")
        correlation_id = incoming if 0 < len(incoming) <= 128 else str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            await self.app(scope, receive, send_with_header)


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by Content-Length or while streaming
    (a chunked body has no length up front), before the application buffers them."""

    def __init__(self, app: ASGIApp, max_bytes: int, by_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_path = by_path or {}  # routes allowed another limit (a bulk upload)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.by_path.get(scope.get("path", ""), self.max_bytes)
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # Answer now, then tell the application the client has gone, so it stops reading.
                    refused = True
                    await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, unless_refused)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        max_bytes = self.by_path.get(scope.get("path", ""), self.max_bytes)
        response = problem(413, "Payload too large", f"requests are limited to {max_bytes} bytes")
        await response(scope, receive, send)


def problem_for(exc: ProblemError) -> JSONResponse:
    """The one mapping from an application error to its problem document."""
    return problem(exc.status, exc.title, exc.detail, **exc.extra)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        errors.append({"path": "/".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    return errors


def install_http_conventions(app: FastAPI) -> None:
    app.add_middleware(CorrelationMiddleware)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        return problem(
            422,
            "Invalid request",
            f"{len(errors)} field(s) are invalid; nothing was stored",
            errors=errors,
        )

    @app.exception_handler(ProblemError)
    async def _problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return problem_for(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        extra: dict[str, Any] = exc.detail if isinstance(exc.detail, dict) else {}
        response = problem(exc.status_code, _title(exc.status_code), detail, **extra)
        response.headers.update(exc.headers or {})  # 405's Allow, 401's WWW-Authenticate
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return response

    install_unavailable_handlers(app)  # a dependency down: 503 with Retry-After, not 500

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Never leak internals: the log has the traceback, the caller gets the correlation id.
        log.exception("http.unhandled_error")
        return problem(500, "Internal error", "see the service logs for this correlation id")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
