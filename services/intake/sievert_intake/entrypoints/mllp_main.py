"""``sievert-intake-mllp`` / ``python -m sievert_intake.entrypoints.mllp_main``: the process that
runs the HL7 v2 MLLP listener on its own, without HTTP.

It uses intake's database, migrations and outbox exactly as the HTTP service does, so it can run
beside it (or instead of ``INTAKE_MLLP_PORT`` in the service). The port is ``INTAKE_MLLP_PORT``,
2575 (the IANA port for HL7 over MLLP) when unset. The listener itself is ``mllp_listener.py``.
"""

from __future__ import annotations

import asyncio
import signal

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
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
