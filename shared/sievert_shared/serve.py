"""Run a service's FastAPI app under uvicorn with JSON logging."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from sievert_shared.logging import configure_logging
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.tracing import configure_tracing


def serve(name: str, runtime: ServiceRuntime, app: FastAPI) -> None:
    settings = runtime.settings
    configure_logging(name, settings.log_level)
    configure_tracing(name)  # only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep structlog's JSON handler
        access_log=False,
        lifespan="on",
        # uvicorn would otherwise wait for a request in flight for ever before the lifespan's
        # own bounded stop even begins.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_seconds / 2)),
    )
