"""``make demo``: start the four services, post sample incidents, and show what each service did.

Runs against the stack that ``make up`` started (or whatever the environment points at), in
demo databases and a demo topic prefix of its own, so it never touches test data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from sievert_shared.kafka import delete_topics_with_prefix
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack

REPO = Path(__file__).resolve().parents[1]
TODAY = dt.datetime.now(dt.UTC).date()

SAMPLES: list[tuple[str, dict[str, Any]]] = [
    (
        "CT abdomen given 12x the intended dose (England, adult)",
        {
            "nation": "england",
            "discovered_on": TODAY.isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 54,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": 12.0,
        },
    ),
    (
        "Chest radiograph repeated once (England, adult)",
        {
            "nation": "england",
            "discovered_on": TODAY.isoformat(),
            "exposure_kind": "unintended",
            "modality": "radiography",
            "patient_age_years": 40,
            "intended_effective_dose_msv": 0.02,
            "total_effective_dose_msv": 0.04,
        },
    ),
    (
        "Wrong patient X-rayed (Wales: accidental exposures are notifiable at any dose)",
        {
            "nation": "wales",
            "discovered_on": (TODAY - dt.timedelta(days=20)).isoformat(),
            "exposure_kind": "accidental",
            "modality": "radiography",
            "patient_age_years": 71,
            "total_effective_dose_msv": 0.02,
        },
    ),
    (
        "Radiotherapy course delivered 12% over prescription (Scotland)",
        {
            "nation": "scotland",
            "discovered_on": TODAY.isoformat(),
            "exposure_kind": "unintended",
            "modality": "external_beam_radiotherapy",
            "patient_age_years": 66,
            "rt_course_dose_ratio": 1.12,
            "rt_dose_volume": "ptv",
        },
    ),
]


def say(text: str = "") -> None:
    print(text, flush=True)


async def create_databases(base_url: str, tag: str) -> dict[str, str]:
    admin = await asyncpg.connect(base_url)
    urls = {}
    try:
        for service in devstack.SERVICES:
            name = f"demo_{service}_{tag}"
            await admin.execute(f'CREATE DATABASE "{name}"')
            urls[service] = urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))
    finally:
        await admin.close()
    return urls


async def drop_databases(base_url: str, urls: dict[str, str]) -> None:
    admin = await asyncpg.connect(base_url)
    try:
        for url in urls.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')
    finally:
        await admin.close()


async def wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.2)


async def run(services: dict[str, devstack.RunningService]) -> None:
    url = {name: s.url for name, s in services.items()}
    async with httpx.AsyncClient(timeout=10) as http:
        incidents: list[tuple[str, str]] = []
        say("\n== intake: posting sample incidents ==")
        for title, facts in SAMPLES:
            body = {"trust": "RDEMO", "site": "RDEMO01", "facts": facts}
            response = await http.post(f"{url['intake']}/v1/incidents", json=body)
            response.raise_for_status()
            incident = response.json()["incident_id"]
            incidents.append((title, incident))
            say(f"  202 {response.headers['Location']}  {title}")

        bad = {"trust": "RDEMO", "site": "RDEMO01", "facts": {"nation": "atlantis", "modality": "ct"}}
        response = await http.post(f"{url['intake']}/v1/incidents", json=bad)
        say(
            f"  {response.status_code} for a malformed report: "
            + "; ".join(f"{e['path']}: {e['message']}" for e in response.json()["errors"])
        )

        say("\n== classifier: decisions (IncidentClassified) ==")
        for title, incident in incidents:

            async def classified(incident: str = incident) -> dict[str, Any] | None:
                r = await http.get(f"{url['reporting']}/v1/incidents/{incident}")
                row: dict[str, Any] = r.json()
                return row if r.status_code == 200 and row.get("decision") else None

            row = await wait_for(classified, f"classification of {incident}")
            decision = row["decision"]
            verdict = "NOTIFIABLE" if decision["notifiable"] else "local investigation only"
            say(f"  {title}")
            say(
                f"    -> {verdict}; codes {decision['codes'] or '-'}; authority {decision['authority'].upper()}; "
                f"ruleset {decision['ruleset']}"
            )
            for reason in decision["reasons"]:
                if reason["outcome"] == "met":
                    lines = ",".join(str(n) for n in reason["citation"]["lines"])
                    say(
                        f"       because {reason['code']}: {reason['criterion'][:110]} (guidance line {lines})"
                    )

        say("\n== deadlines: windows (Regulation 8) ==")
        for title, incident in incidents:

            async def windows(incident: str = incident) -> list[dict[str, Any]] | None:
                r = await http.get(f"{url['deadlines']}/v1/incidents/{incident}/deadlines")
                return r.json()["windows"] if r.status_code == 200 else None

            for window in await wait_for(windows, f"deadlines of {incident}"):
                state = "OVERDUE" if window["overdue"] else window["status"]
                say(f"  {title[:48]:<48}  {window['window']:<22} due {window['due_at']}  {state}")

        say("\n== reporting: GET /v1/incidents?trust=RDEMO&notifiable=true ==")
        r = await http.get(f"{url['reporting']}/v1/incidents", params={"trust": "RDEMO", "notifiable": True})
        for item in r.json()["items"]:
            say(f"  {item['incident_id']}  {item['modality']:<28} codes {item['codes']}  {item['authority']}")
    say(
        "\nService logs (JSON, one line per event) are in "
        + str(next(iter(services.values())).log_path.parent)
    )


def main() -> int:
    base = os.environ.get("INTAKE_DATABASE_URL")
    if not base or not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        say("demo: KAFKA_BOOTSTRAP_SERVERS and INTAKE_DATABASE_URL must be set (make demo sets them)")
        return 2
    tag = uuid.uuid4().hex[:6]
    databases = asyncio.run(create_databases(base, tag))
    env = devstack.service_env(
        {**os.environ, "KAFKA_TOPIC_PREFIX": f"demo-{tag}"}, database_urls=databases, ports=devstack.SERVICES
    )
    log_dir = REPO / ".stack" / "demo-logs" / tag
    say(f"demo: starting intake, classifier, deadlines and reporting (logs in {log_dir})")
    started = time.monotonic()
    try:
        with devstack.running(env, log_dir=log_dir) as services:
            say(f"demo: all four services ready in {time.monotonic() - started:.1f}s")
            asyncio.run(run(services))
    finally:
        asyncio.run(drop_databases(base, databases))
        asyncio.run(delete_topics_with_prefix(KafkaSettings(), f"demo-{tag}"))
    say("\ndemo: done; services stopped. The stack stays up (make down stops it).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
