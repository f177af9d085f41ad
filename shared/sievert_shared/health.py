"""/healthz (the process is alive) and /readyz (its database and Kafka answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[None]]


def health_router(checks: Callable[[], Mapping[str, Check]]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                await asyncio.wait_for(check(), timeout=3)
                results[name] = "ok"
            except Exception as exc:  # readiness reports every failure, whatever its kind
                results[name] = f"unavailable: {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
        ready = bool(results) and all(v == "ok" for v in results.values())
        if ready:
            return JSONResponse({"ready": True, "checks": results})
        return JSONResponse(
            {"ready": False, "checks": results}, status_code=503, headers={"Retry-After": "5"}
        )

    return router
