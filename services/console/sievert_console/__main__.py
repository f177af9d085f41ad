"""``sievert-console`` / ``python -m sievert_console``: run the console (port 8004)."""

from __future__ import annotations

import uvicorn

from sievert_console.bootstrap import build
from sievert_console.settings import ConsoleSettings
from sievert_shared.logging import configure_logging
from sievert_shared.tracing import configure_tracing


def main() -> None:
    settings = ConsoleSettings()
    configure_logging("console", settings.log_level)
    configure_tracing("console")  # only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    uvicorn.run(
        build(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep structlog's JSON handler
        access_log=False,
        lifespan="on",
        # Open event streams would hold a shutdown for ever: give them a moment, then close.
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
