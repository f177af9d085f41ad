"""Refuse, at the door, input that no route can hold: before any route parses or stores it.

- **NUL and lone surrogates.** PostgreSQL's text cannot hold U+0000, and UTF-8 cannot encode an
  unpaired surrogate (``\\ud800``): either reaches the database as an error, not an answer. A
  query parameter, a path segment or a JSON string (or key) carrying one is answered 422, naming
  each field (``query/trust``, ``body/facts/equipment_model``); so is a raw NUL byte in any body.
- **Nesting depth.** A JSON body nested deeper than ``max_depth`` is answered 400 before it is
  parsed: parsers and validators recurse, and a deep enough document exhausts the stack.
- **Size.** A body over ``max_body_bytes`` is answered 413 (it has to be read to be checked).

A bulk route (``body_limits``: its path and its own, larger, limit) takes NDJSON, one document per
line, and answers each line for itself: its body is not refused whole for a line's NUL, surrogate
or depth. The route applies these same checks to each line (``sievert_intake.domain.batch``) and
refuses only the bad lines, naming each line and field, so a bad line costs none of the good.
Its path and query are checked as everywhere.

Plain ASGI, like the rest of ``sievert_shared.http``: the body is read once, checked, and handed
to the application unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sievert_shared.http import problem

#: Deep enough for any FHIR Bundle (entry / resource / contained / extension / value / coding
#: is about a dozen levels), far short of where a recursive parser runs out of stack.
MAX_JSON_DEPTH = 64
#: For the services that set no limit of their own (intake sets ``INTAKE_MAX_BODY_BYTES``).
MAX_BODY_BYTES = 1024 * 1024

_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89abAB]|\\u[dD][c-fC-F]")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as PostgreSQL text (None: it can)."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate, which is not a character"
    return None


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects deeper than ``limit``, without parsing it."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _STRUCTURE.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def may_hold_unstorable(text: bytes) -> bool:
    """Whether JSON text may decode to a NUL or a lone surrogate: only a ``\\u`` escape can give
    either (a raw NUL is refused before parsing, and UTF-8 cannot carry a surrogate), so text
    without one needs no walk of its parsed value (``unstorable_strings``)."""
    return _SUSPECT.search(text) is not None


def unstorable_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, why) for every string or key in a parsed JSON value that cannot be stored."""
    if isinstance(value, str):
        why = unstorable(value)
        if why:
            yield path, why
    elif isinstance(value, dict):
        for key, item in value.items():
            why = unstorable(key)
            if why:
                yield f"{path}/{_printable(key)}", f"its name {why}"
            yield from unstorable_strings(item, f"{path}/{_printable(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_strings(item, f"{path}/{index}")


def _printable(name: str) -> str:
    """A field name as it can be shown in the answer (which is stored nowhere, but is JSON)."""
    return name.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


def _field_errors(found: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"path": path, "message": why, "type": "unstorable_character"} for path, why in found]


def _refusal(found: list[tuple[str, str]]) -> Any:
    errors = _field_errors(found)
    return problem(
        422,
        "Invalid request",
        f"{len(errors)} field(s) hold characters that cannot be stored; nothing was stored",
        errors=errors,
    )


def _request_line_problems(scope: Scope) -> list[tuple[str, str]]:
    found = []
    why = unstorable(scope.get("path", ""))
    if why:
        found.append(("path", why))
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        for name, value in parse_qsl(query, keep_blank_values=True):
            why = unstorable(name) or unstorable(value)
            if why:
                found.append((f"query/{_printable(name)}", why))
    return found


def _is_json(headers: Headers, body: bytes) -> bool:
    """Declared JSON, or a body that reads as JSON whatever it is labelled: some routes (FHIR's)
    parse the body themselves, whatever its Content-Type."""
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or body.lstrip()[:1] in (b"{", b"[")


def body_problems(body: bytes, headers: Headers, max_depth: int) -> tuple[int, list[tuple[str, str]]]:
    """(status, problems) of a request body: 400 too deep, 422 unstorable characters; (0, []) fine."""
    if b"\x00" in body:
        return 422, [("body", "contains a NUL byte, which cannot be stored")]
    if not _is_json(headers, body):
        return 0, []
    if json_depth_exceeds(body, max_depth):
        return 400, [("body", f"JSON nested deeper than {max_depth} levels")]
    if not may_hold_unstorable(body):
        return 0, []
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return 0, []  # not JSON: the route's own parser answers that
    return (422, found) if (found := list(unstorable_strings(parsed, "body"))) else (0, [])


class InputGuard:
    """ASGI middleware: the checks in this module's docstring, for every route of a service."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_depth: int = MAX_JSON_DEPTH,
        body_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth
        self.body_limits = body_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _request_line_problems(scope)
        if found:
            await _refusal(found)(scope, receive, send)
            return
        if scope.get("method") not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        bulk_limit = self.body_limits.get(scope.get("path", ""))
        limit = self.max_body_bytes if bulk_limit is None else bulk_limit
        body, complete = await self._read(receive, limit)
        if body is None:
            return  # the client went away
        if not complete:
            refused = problem(413, "Payload too large", f"requests are limited to {limit} bytes")
            await refused(scope, receive, send)
            return
        if bulk_limit is not None:
            await self.app(scope, _replay(body, receive), send)  # checked line by line by the route
            return
        status, found = body_problems(body, Headers(scope=scope), self.max_depth)
        if status == 400:
            await problem(400, "Bad request", found[0][1], errors=_field_errors(found))(scope, receive, send)
            return
        if found:
            await _refusal(found)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive, limit: int) -> tuple[bytes | None, bool]:
        """The whole body and True; what was read and False past the limit; None if disconnected."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def guard_input(app: Any, settings: Any) -> None:
    """Install ``InputGuard`` on a service's app, with the service's body limit if it has one
    (and ``body_limits``, its bulk routes' own)."""
    app.add_middleware(
        InputGuard,
        max_body_bytes=getattr(settings, "max_body_bytes", MAX_BODY_BYTES),
        body_limits=dict(getattr(settings, "body_limits", {})),
    )
