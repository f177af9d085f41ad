"""A dependency that is down answers 503 with Retry-After, not 500.

When PostgreSQL restarts, or Kafka is unreachable, a request fails on a connection error that
says nothing about the request: the caller should try again shortly, and a load balancer or an
integration engine reads 503 with ``Retry-After`` that way. A 500 says the service is broken.
"""

from __future__ import annotations

import errno

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sievert_shared.logging import Throttle, get_logger

RETRY_AFTER_SECONDS = 5

log = get_logger(__name__)

_DATABASE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,  # the connection was lost, refused or never made
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, cancelled
    asyncpg.TooManyConnectionsError,
    # a connection whose server end was cut mid-conversation ("cannot switch to state …")
    asyncpg.exceptions.InternalClientError,
)
_KAFKA_ERRORS: tuple[type[Exception], ...] = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError)
_CONNECTION_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH, errno.ENETUNREACH}
)
_throttle = Throttle()


def unavailable_dependency(exc: BaseException) -> str | None:
    """Which dependency ``exc`` says is unreachable ("database", "kafka", "a dependency"), or
    None when it is some other failure."""
    if isinstance(exc, _DATABASE_ERRORS):
        return "database"
    if isinstance(exc, _KAFKA_ERRORS):
        return "kafka"
    if isinstance(exc, asyncpg.InterfaceError) and "pool is closing" in str(exc):
        return "database"
    # A pool's connect to a closed port, an acquire that timed out: TimeoutError is an OSError.
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return "a dependency"
    if isinstance(exc, OSError) and (exc.errno in _CONNECTION_ERRNOS or "Connect call failed" in str(exc)):
        return "a dependency"
    return None


def unavailable_problem(dependency: str) -> JSONResponse:
    from sievert_shared.http import problem

    response = problem(
        503,
        "Service unavailable",
        f"{dependency} is unavailable; nothing was stored; try again in {RETRY_AFTER_SECONDS} s",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def install_unavailable_handlers(app: FastAPI) -> None:
    """Map connection failures to 503 + Retry-After; any other error keeps the app's 500."""

    async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
        dependency = unavailable_dependency(exc)
        if dependency is None:
            log.exception("http.unhandled_error", exc_info=exc)
            from sievert_shared.http import problem

            return problem(500, "Internal error", "see the service logs for this correlation id")
        allowed, held_back = _throttle.allow((dependency, type(exc).__name__))
        if allowed:
            log.warning(
                "http.dependency_unavailable",
                dependency=dependency,
                error=f"{type(exc).__name__}: {exc}",
                similar_lines_held_back=held_back,
            )
        return unavailable_problem(dependency)

    for kind in (*_DATABASE_ERRORS, *_KAFKA_ERRORS, asyncpg.InterfaceError, OSError):
        app.add_exception_handler(kind, _unavailable)
