"""``sievert-intake-mllp`` / ``python -m sievert_intake.entrypoints.mllp_main``: the process that
runs the HL7 v2 MLLP listener on its own, without intake's API.

It uses intake's database, migrations and outbox exactly as the HTTP service does, so it can run
beside it (or instead of ``INTAKE_MLLP_PORT`` in the service). The MLLP port is
``INTAKE_MLLP_PORT``, 2575 (the IANA port for HL7 over MLLP) when unset. Like every process of
Sievert it answers ``/healthz``, ``/readyz`` and ``/metrics`` on ``INTAKE_HTTP_PORT``, so an
orchestrator can tell when it is ready and Prometheus can scrape its counters; uvicorn runs it,
on uvloop where installed (asyncio's own TLS transport is Python, and every statement to a TLS
PostgreSQL passes through it, which cost the listener a quarter of its CPU). The listener itself
is ``mllp_listener.py``.
"""

from __future__ import annotations

from sievert_intake.bootstrap import build_mllp
from sievert_shared.serve import serve


def main() -> None:
    runtime, app = build_mllp()
    serve("intake-mllp", runtime, app)


if __name__ == "__main__":
    main()
