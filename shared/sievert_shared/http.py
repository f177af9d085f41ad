"""HTTP conventions every service shares: correlation ids and RFC 9457 problem details."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from sievert_shared.logging import get_logger

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"

log = get_logger(__name__)


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


class CorrelationMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        incoming = request.headers.get(CORRELATION_HEADER, "")
        correlation_id = incoming if 0 < len(incoming) <= 128 else str(uuid.uuid4())
        request.state.correlation_id = correlation_id
        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            response = await call_next(request)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response


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

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        extra: dict[str, Any] = exc.detail if isinstance(exc.detail, dict) else {}
        return problem(exc.status_code, _title(exc.status_code), detail, **extra)

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
