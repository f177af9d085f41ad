"""Make each service's OpenAPI document list every answer its routes can give.

FastAPI documents a route's success and its validation error (as ``application/json``, although
``sievert_shared.http`` answers ``application/problem+json``). A route also answers, through the
shared plumbing and not its own code: 400 (a body that is not JSON, or nested too deep), 413 (a
body over the limit), 422 (an invalid field, or a character that cannot be stored, in any query
parameter, path segment or body), 401/403/429 (credentials, role, rate) where it needs a caller,
404 where its path names a resource, and 503 when a dependency it needs is down. A client
generated from the document must expect all of them, so they are added here, each as
``application/problem+json`` with the ``Problem`` schema (a route may also document another
media type for the same status, as FHIR's OperationOutcome). 405 is not per operation: it
answers a method the document does not list, with ``Allow``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

PROBLEM_JSON = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; further members name what was wrong (errors, missing…).",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    400: "Bad request: the body is not JSON, or is nested too deep",
    401: "Credentials missing or invalid (WWW-Authenticate names the schemes)",
    403: "The caller's role or tenancy does not allow this",
    404: "Not found (also another trust's resource)",
    409: "Conflict with the resource's current state",
    413: "The body is over the service's limit",
    422: "Invalid fields, each named by path; nothing was stored",
    429: "Too many requests from this caller",
    503: "A dependency (database or Kafka) is unavailable; try again",
}

_UNAUTHENTICATED = {"/healthz", "/readyz", "/fhir/metadata"}


def document_answers(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that adds the answers above to every operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for context in iter_route_contexts(app.routes):
            route = context.route
            if isinstance(route, APIRoute) and route.include_in_schema and context.path_format:
                for method in route.methods or set():
                    operation = schema["paths"].get(context.path_format, {}).get(method.lower())
                    if operation is not None:
                        _document(operation, context.path_format, route, method)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def statuses_of(path: str, route: APIRoute, method: str) -> set[int]:
    """The statuses the shared plumbing can answer for this route."""
    statuses = {422}
    if path == "/healthz":
        return statuses
    statuses.add(503)
    if method in {"POST", "PUT", "PATCH", "DELETE"}:
        statuses |= {400, 413}
    if path not in _UNAUTHENTICATED and _needs_caller(route.dependant):
        statuses |= {401, 403, 429}
    if "{" in path:
        statuses.add(404)
    return statuses


def _document(operation: dict[str, Any], path: str, route: APIRoute, method: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = statuses_of(path, route, method) | {int(code) for code in responses if _is_error(code)}
    for status in sorted(statuses):
        answer = responses.setdefault(str(status), {"description": _DESCRIPTIONS.get(status, "Error")})
        content = answer.setdefault("content", {})
        validation = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        if validation.endswith("/HTTPValidationError") or content.get("application/json") == {}:
            del content["application/json"]  # FastAPI's default: the answer is a problem document
        content[PROBLEM_JSON] = {"schema": {"$ref": "#/components/schemas/Problem"}}
        if status == 401:
            answer.setdefault("headers", {})["WWW-Authenticate"] = {"schema": {"type": "string"}}


def _is_error(code: str) -> bool:
    return code.isdigit() and int(code) >= 400


def _needs_caller(dependant: Dependant) -> bool:
    """Whether the route authenticates its caller (``sievert_shared.auth.require``)."""
    return any(getattr(dep.call, "__module__", "") == "sievert_shared.auth" for dep in _walk(dependant))


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at ``path``: a 405's ``Allow`` lists them all, not only
    those of the first route whose path matched (several routers may serve one path)."""
    methods: set[str] = set()
    for context in iter_route_contexts(app.routes):
        if context.path_format and context.methods and _path_regex(context.path_format).fullmatch(path):
            methods |= set(context.methods)
    methods.discard("HEAD")  # implied by GET, and not in the document
    return sorted(methods)


@functools.cache
def _path_regex(path_format: str) -> re.Pattern[str]:
    return re.compile(
        re.sub(r"\{[^}/]+\}", "[^/]+", re.escape(path_format).replace(r"\{", "{").replace(r"\}", "}"))
    )
