"""``sievert-intake-mllp`` / ``python -m sievert_intake.entrypoints.mllp_main``: the process that
runs the HL7 v2 MLLP listener on its own, without HTTP.

It uses intake's database, migrations and outbox exactly as the HTTP service does, so it can run
beside it (or instead of ``INTAKE_MLLP_PORT`` in the service). The port is ``INTAKE_MLLP_PORT``,
2575 (the IANA port for HL7 over MLLP) when unset. The listener itself is ``mllp_listener.py``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

from sievert_intake.bootstrap import build_mllp
from sievert_intake.settings import IntakeSettings
from sievert_shared.logging import configure_logging


async def run(settings: IntakeSettings) -> None:
    runtime, _listener = build_mllp(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with runtime.lifespan(None):
        await stop.wait()


def main() -> None:
    settings = IntakeSettings()
    configure_logging("intake-mllp", settings.log_level)
    asyncio_run(run(settings))


def asyncio_run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when it is installed, as uvicorn runs the HTTP service (and so the listener under
    ``INTAKE_MLLP_PORT``): asyncio's own TLS transport is Python, and every statement to a TLS
    PostgreSQL passes through it, which cost the listener a quarter of its CPU."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it where it builds
        asyncio.run(main)
        return
    uvloop.run(main)


if __name__ == "__main__":
    main()
