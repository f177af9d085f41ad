"""``make console``: the four services and the console, with sample incidents, until Ctrl-C.

Like ``make demo`` it runs against the stack ``make up`` started, in databases and a topic prefix
of its own (dropped and deleted on the way out). The console signs people in with a development
key made for this run, which the services are started to trust (``sievert_console.testing.devstack``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for scripts.demo when run as a file

from scripts.demo import SAMPLES, create_databases, drop_databases  # noqa: E402
from sievert_console.testing.devstack import CONSOLE_PORT, running_with_console  # noqa: E402
from sievert_shared.kafka import delete_topics_with_prefix  # noqa: E402
from sievert_shared.settings import KafkaSettings  # noqa: E402
from sievert_shared.testing import devstack  # noqa: E402

TODAY = dt.datetime.now(dt.UTC).date()

#: Beside make demo's samples: one whose decision waits for a fact, and one of another trust
#: (a person of RDEMO must never see it).
EXTRA_SAMPLES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "CT head, total dose not yet estimated (England)",
        "RDEMO",
        "RDEMO02",
        {
            "nation": "england",
            "discovered_on": (TODAY - dt.timedelta(days=2)).isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 61,
            "intended_effective_dose_msv": 2.0,
        },
    ),
    (
        "Another trust's CT over-exposure",
        "ROTHER",
        "ROTHER01",
        {
            "nation": "england",
            "discovered_on": TODAY.isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 45,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": 15.0,
        },
    ),
]


def say(text: str = "") -> None:
    print(text, flush=True)


async def post_samples(intake: str) -> None:
    """Posted as an integration engine would, without a person: the services run in development
    auth mode, which serves a request without credentials as the development principal."""
    reports = [(title, "RDEMO", "RDEMO01", facts) for title, facts in SAMPLES] + EXTRA_SAMPLES
    async with httpx.AsyncClient(timeout=10) as http:
        for title, trust, site, facts in reports:
            body = {"trust": trust, "site": site, "facts": facts}
            response = await http.post(f"{intake}/v1/incidents", json=body)
            response.raise_for_status()
            say(f"  {trust}/{site}: {title}")


def _stop_on_signals() -> None:
    """Ctrl-C (also when started from a shell that ignores it in background jobs) and SIGTERM
    both stop the processes and drop this run's databases and topics."""

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    _stop_on_signals()
    base = os.environ.get("INTAKE_DATABASE_URL")
    if not base or not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        say("console: KAFKA_BOOTSTRAP_SERVERS and INTAKE_DATABASE_URL must be set (make console sets them)")
        return 2
    tag = uuid.uuid4().hex[:6]
    prefix = f"console-{tag}"
    databases = asyncio.run(create_databases(base, tag))
    env = devstack.service_env(
        {**os.environ, "KAFKA_TOPIC_PREFIX": prefix}, database_urls=databases, ports=devstack.SERVICES
    )
    run_dir = REPO / ".stack" / "console" / tag
    say(f"console: starting the four services and the console (logs in {run_dir})")
    started = time.monotonic()
    try:
        with running_with_console(
            env,
            ports=devstack.SERVICES,
            console_port=CONSOLE_PORT,
            log_dir=run_dir,
            key_dir=run_dir / "key",
        ) as run:
            services, console = run.services, run.console
            say(f"console: ready in {time.monotonic() - started:.1f}s; posting sample incidents")
            asyncio.run(post_samples(services["intake"].url))
            say(f"\n  Sievert console: {console.url}/  (sign in as a radiation protection lead of RDEMO)")
            say("  Ctrl-C stops the services and the console; the stack stays up (make down stops it).\n")
            while console.process.poll() is None:
                time.sleep(1)  # the console runs until Ctrl-C; a poll for it exiting early
            say(f"console: the console exited ({console.process.returncode}); see {console.log_path}")
    except KeyboardInterrupt:
        say("\nconsole: stopping")
    finally:
        shutil.rmtree(run_dir / "key", ignore_errors=True)  # the services that trusted it are gone
        asyncio.run(drop_databases(base, databases))
        asyncio.run(delete_topics_with_prefix(KafkaSettings(), prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
