"""Running a coroutine to completion on the event loop the services run on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, on uvloop when it is installed, as uvicorn runs the services: asyncio's
    own transports are Python, and every statement to a TLS PostgreSQL passes through them (they
    were a tenth of a replay worker's samples and a quarter of the MLLP listener's, profiled)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it where it builds
        return asyncio.run(main)
    return uvloop.run(main)
