"""The input guard and a bulk route (NDJSON, its own body limit): the body reaches the route
whole, to be judged line by line, while other routes keep the global limit and checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from sievert_shared.input_guard import InputGuard

BATCH = "/v1/incidents:batch"


class Recorder:
    """An ASGI app that records the body it was given and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def call(guard: InputGuard, path: str, body: bytes, query: bytes = b"") -> tuple[int, Any]:
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": query,
        "headers": [(b"content-type", b"application/x-ndjson")],
    }
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)] or [b""]
    incoming: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await guard(scope, receive, send)
    status = sent[0]["status"]
    return status, json.loads(b"".join(m.get("body", b"") for m in sent[1:]) or b"null")


@pytest.fixture
def app() -> Recorder:
    return Recorder()


@pytest.fixture
def guard(app: Recorder) -> InputGuard:
    return InputGuard(app, max_body_bytes=2048, body_limits={BATCH: 8192})


async def test_batch_route_gets_a_body_with_a_nul_whole_to_refuse_that_line(
    guard: InputGuard, app: Recorder
) -> None:
    body = b'{"a": 1}\n{"a": "x\x00"}\n{"a": "\\u0000"}\n'

    assert (await call(guard, BATCH, body))[0] == 200
    assert app.bodies == [body]  # unchanged, for the route's per-line checks
    status, problem = await call(guard, "/v1/incidents", body)
    assert status == 422 and problem["errors"][0]["path"] == "body"


async def test_batch_route_has_its_own_larger_body_limit(guard: InputGuard, app: Recorder) -> None:
    within = b"{}\n" * 2000  # 6,000 bytes: over the global 2,048, under the batch 8,192

    assert (await call(guard, BATCH, within))[0] == 200
    status, problem = await call(guard, BATCH, within * 2)
    assert status == 413 and "8192" in problem["detail"]
    status, problem = await call(guard, "/v1/incidents", within)
    assert status == 413 and "2048" in problem["detail"]
    assert app.bodies == [within]


async def test_batch_route_still_refuses_a_nul_in_its_query(guard: InputGuard, app: Recorder) -> None:
    status, problem = await call(guard, BATCH, b"{}\n", query=b"x=%00")

    assert status == 422 and problem["errors"][0]["path"] == "query/x"
    assert app.bodies == []
