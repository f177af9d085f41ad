"""Application errors every service raises, mapped once to RFC 9457 problem details.

Services raise these (or subclasses with a domain name) from their service layer; the HTTP
conventions in ``sievert_shared.http`` turn them into ``application/problem+json`` with the
status, title and any extra members given here. Nothing here imports a web framework, so a
service layer, a consumer or a CLI can raise them alike.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProblemError(Exception):
    """An error a caller can act on: the status, a short title, a detail in words and any extra
    members of the problem document (``errors``, ``missing``, ``current_version``…)."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFoundError(ProblemError, LookupError):
    """Nothing of that id for this caller; also what another trust's resource answers, so ids and
    trust codes cannot be probed."""

    status = 404
    title = "Not found"


class ForbiddenError(ProblemError):
    status = 403
    title = "Forbidden"


class ConflictError(ProblemError):
    """The request is well formed but the resource's current state refuses it (a version moved on,
    a document already issued, a window already closed)."""

    status = 409
    title = "Conflict"


class UnprocessableError(ProblemError, ValueError):
    """The request parsed but says something the domain refuses; ``errors`` names each field."""

    status = 422
    title = "Invalid request"
