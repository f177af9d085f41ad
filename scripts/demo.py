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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from sievert_shared.kafka import delete_topics_with_prefix
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack

REPO = Path(__file__).resolve().parents[1]
TODAY = dt.datetime.now(dt.UTC).date()

Json = dict[str, Any]

#: Facts every sample shares: one adult patient, judged not clinically significant, no equipment
#: fault. Without them the classifier keeps an incident undecided (a missing fact could still make
#: it notifiable), which is what the dose-awaited sample shows on purpose.
SETTLED = {"individuals_affected": 1, "clinically_significant": False, "equipment_fault": False}


class Sample(NamedTuple):
    """A sample incident: a title for people, and the facts intake is given."""

    title: str
    facts: dict[str, Any]


CT = Sample(
    "CT abdomen given 12x the intended dose (England, adult)",
    {
        "nation": "england",
        "discovered_on": TODAY.isoformat(),
        "exposure_kind": "unintended",
        "modality": "ct",
        "patient_age_years": 54,
        "intended_effective_dose_msv": 1.0,
        "total_effective_dose_msv": 12.0,
        **SETTLED,
    },
)
CHEST = Sample(
    "Chest radiograph repeated once (England, adult)",
    {
        "nation": "england",
        "discovered_on": TODAY.isoformat(),
        "exposure_kind": "unintended",
        "modality": "radiography",
        "patient_age_years": 40,
        "intended_effective_dose_msv": 0.02,
        "total_effective_dose_msv": 0.04,
        **SETTLED,
    },
)
WALES = Sample(
    "Wrong patient X-rayed (Wales: accidental exposures are notifiable at any dose)",
    {
        "nation": "wales",
        "discovered_on": (TODAY - dt.timedelta(days=20)).isoformat(),
        "exposure_kind": "accidental",
        "modality": "radiography",
        "patient_age_years": 71,
        "total_effective_dose_msv": 0.02,
        **SETTLED,
    },
)
RADIOTHERAPY = Sample(
    "Radiotherapy course delivered 12% over prescription (Scotland)",
    {
        "nation": "scotland",
        "discovered_on": TODAY.isoformat(),
        "exposure_kind": "unintended",
        "modality": "external_beam_radiotherapy",
        "patient_age_years": 66,
        "rt_course_dose_ratio": 1.12,
        "rt_dose_volume": "ptv",
        "geographical_miss": "none",
        **SETTLED,
    },
)

#: make demo's samples; make console posts them too (scripts/console.py).
SAMPLES: list[Sample] = [CT, CHEST, WALES, RADIOTHERAPY]

#: Posted by the demo only, for its provisional clock (the console has a dose-awaited CT of its own).
DOSE_AWAITED = Sample(
    "CT head repeated, effective dose awaited from the physicist (England, adult)",
    {
        "nation": "england",
        "discovered_on": (TODAY - dt.timedelta(days=3)).isoformat(),
        "exposure_kind": "unintended",
        "modality": "ct",
        "patient_age_years": 47,
        "intended_effective_dose_msv": 2.0,
        **SETTLED,
    },
)

#: Who acts in the sections below: roles, never names (free text that identifies is refused).
LEAD = "Radiation protection lead"


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


@dataclass(frozen=True)
class Posted:
    """A sample incident as intake accepted it."""

    title: str
    incident_id: str
    stream_version: int


@dataclass(frozen=True)
class Api:
    """One HTTP client and the four services' base URLs: what every section talks through."""

    http: httpx.AsyncClient
    url: dict[str, str]

    async def deadlines(self, incident: str, until: Callable[[Json], bool], what: str) -> Json:
        """Deadlines' ``GET /v1/incidents/{id}/deadlines`` once ``until`` holds for it."""

        async def check() -> Json | None:
            r = await self.http.get(f"{self.url['deadlines']}/v1/incidents/{incident}/deadlines")
            body: Json = r.json()
            return body if r.status_code == 200 and until(body) else None

        found: Json = await wait_for(check, what)
        return found


def window(body: Json, name: str) -> Json | None:
    """One window of a deadlines answer, by name."""
    return next((w for w in body["windows"] if w["window"] == name), None)


def window_status(name: str, status: str) -> Callable[[Json], bool]:
    """A check for ``Api.deadlines``: the window ``name`` has ``status``."""

    def holds(body: Json) -> bool:
        found = window(body, name)
        return found is not None and found["status"] == status

    return holds


def state_of(w: Json) -> str:
    """A window's state in words: open (provisional, and what it waits for), met, cancelled, overdue."""
    if w["status"] == "met":
        late = f"{w['days_late']} day(s) late" if w["days_late"] else "on time"
        return f"met {w['met_at'][:10]}, {late}"
    if w["status"] == "cancelled":
        return f"cancelled: {w['cancelled_reason']}"
    state = "OVERDUE" if w["overdue"] else w["status"]
    if w["provisional"]:
        state += f", PROVISIONAL until known: {', '.join(w['needs_facts'])}"
    return state


def say_windows(body: Json, indent: str = "    ") -> None:
    for w in body["windows"]:
        say(f"{indent}{w['window']:<22} due {w['due_at']}  {state_of(w)}")


def say_case(case: Json, indent: str = "    ") -> None:
    line = f"{indent}case: {case['status'].replace('_', ' ')} (decision {case['decision_status']})"
    if case["status"] == "closed":
        years = int(case["retain_until"][:4]) - int(case["closed_on"][:4])
        line += f", closed on {case['closed_on']} ({case['basis']}), kept until {case['retain_until']} ({years} years)"
    say(line)
    if case["withdrawal"]:
        say(f"{indent}  withdrawal: {case['withdrawal']['requested_reason']}")


async def run(services: dict[str, devstack.RunningService]) -> None:
    url = {name: s.url for name, s in services.items()}
    async with httpx.AsyncClient(timeout=10) as http:
        api = Api(http, url)
        incidents = await post_samples(api)
        await show_decisions(api, incidents)
        say("\n== deadlines: windows (Regulation 8) ==")
        for posted in incidents.values():
            body = await api.deadlines(posted.incident_id, lambda b: bool(b["windows"]), "deadlines")
            for w in body["windows"]:
                say(f"  {posted.title[:48]:<48}  {w['window']:<22} due {w['due_at']}  {state_of(w)}")

        say("\n== reporting: GET /v1/incidents?trust=RDEMO&notifiable=true ==")
        r = await http.get(f"{url['reporting']}/v1/incidents", params={"trust": "RDEMO", "notifiable": True})
        for item in r.json()["items"]:
            say(f"  {item['incident_id']}  {item['modality']:<28} codes {item['codes']}  {item['authority']}")

        await provisional_clock(api, incidents[DOSE_AWAITED.title])
        await close_local_investigation(api, incidents[CHEST.title])
        await withdrawal_requested(api, incidents[CT.title])
        await incomplete_then_complete(api, incidents[RADIOTHERAPY.title])
        await show_metrics(api)
    say(
        "\nService logs (JSON, one line per event) are in "
        + str(next(iter(services.values())).log_path.parent)
    )


#: What the demo shows of each service's /metrics (docs/operability.md lists them all).
DEMO_METRICS = (
    "sievert_http_requests_total",
    "sievert_consumer_events_handled_total",
    "sievert_outbox_published_events_total",
    "sievert_timers_pending",
    "sievert_deadline_windows_overdue",
    "sievert_documents_drafted_total",
    "sievert_documents_issued_total",
)


async def show_metrics(api: Api) -> None:
    """What Prometheus scrapes: ``curl 127.0.0.1:800N/metrics``, a few of each service's series."""
    say("\n== metrics: GET /metrics of each service (what Prometheus scrapes) ==")
    for name, base in api.url.items():
        text = (await api.http.get(f"{base}/metrics")).text
        say(f"  {name} ({base}/metrics): {len(text.splitlines())} lines, for example")
        for metric in DEMO_METRICS:  # two series of each, those that moved
            moved = [
                line
                for line in text.splitlines()
                if line.startswith((f"{metric} ", f"{metric}{{")) and "/readyz" not in line
            ]
            for line in [m for m in moved if not m.endswith(" 0.0")][:2]:
                say(f"    {line}")


async def post_samples(api: Api) -> dict[str, Posted]:
    incidents: dict[str, Posted] = {}
    say("\n== intake: posting sample incidents ==")
    for title, facts in [*SAMPLES, DOSE_AWAITED]:
        body = {"trust": "RDEMO", "site": "RDEMO01", "facts": facts}
        response = await api.http.post(f"{api.url['intake']}/v1/incidents", json=body)
        response.raise_for_status()
        answer = response.json()
        incidents[title] = Posted(title, answer["incident_id"], answer["stream_version"])
        say(f"  202 {response.headers['Location']}  {title}")

    bad = {"trust": "RDEMO", "site": "RDEMO01", "facts": {"nation": "atlantis", "modality": "ct"}}
    response = await api.http.post(f"{api.url['intake']}/v1/incidents", json=bad)
    say(
        f"  {response.status_code} for a malformed report: "
        + "; ".join(f"{e['path']}: {e['message']}" for e in response.json()["errors"])
    )
    return incidents


VERDICTS = {
    "notifiable": "NOTIFIABLE",
    "not_notifiable": "not notifiable: local investigation only",
    "undecided": "UNDECIDED: not shown notifiable, and a missing fact could make it so",
}


async def show_decisions(api: Api, incidents: dict[str, Posted]) -> None:
    say("\n== classifier: decisions (IncidentClassified) ==")
    for posted in incidents.values():

        async def classified(incident: str = posted.incident_id) -> Json | None:
            r = await api.http.get(f"{api.url['reporting']}/v1/incidents/{incident}")
            row: Json = r.json()
            return row if r.status_code == 200 and row.get("decision") else None

        decision = (await wait_for(classified, f"classification of {posted.incident_id}"))["decision"]
        say(f"  {posted.title}")
        say(
            f"    -> {VERDICTS[decision['status']]}; codes {decision['codes'] or '-'}; "
            f"authority {decision['authority'].upper()}; ruleset {decision['ruleset']}"
        )
        for reason in decision["reasons"]:
            lines = ",".join(str(n) for n in reason["citation"]["lines"])
            if reason["outcome"] == "met":
                say(f"       because {reason['code']}: {reason['criterion'][:110]} (guidance line {lines})")
            elif reason["outcome"] == "needs_facts" and reason["needs_affect"] == "notification":
                say(
                    f"       open    {reason['code']}: {reason['criterion'][:80]} (guidance line {lines}) "
                    f"needs {', '.join(reason['needs'])}"
                )


async def provisional_clock(api: Api, posted: Posted) -> None:
    say("\n== deadlines: a provisional clock while the dose is awaited (guidance line 219) ==")
    body = await api.deadlines(
        posted.incident_id, lambda b: window(b, "notification") is not None, "the provisional window"
    )
    case = body["case"]
    say(f"  {posted.title}")
    say(
        f"    classifier: {case['decision_status']}; the notification decision waits for "
        f"{', '.join(case['needs_facts_for_notification'])}"
    )
    notification = window(body, "notification")
    assert notification is not None
    say(
        f"    GET /v1/incidents/{posted.incident_id}/deadlines: discovered {notification['discovered_on']}, "
        f"the notification window counted from {notification['counted_from']}"
    )
    say_windows(body, indent="      ")
    say(
        "    The 2 weeks run from discovery (three days before the report), whatever is awaited: the dose,\n"
        "    once amended in, makes the window firm (notifiable) or cancels it (not notifiable). The local\n"
        "    investigation runs meanwhile, as for every incident."
    )


async def close_local_investigation(api: Api, posted: Posted) -> None:
    say("\n== reporting: the chest radiograph's local investigation, owned and closed (Regulation 8(3)) ==")
    base = f"{api.url['reporting']}/v1/incidents/{posted.incident_id}/local-investigation"
    owner = "Radiology quality lead"
    version = (await api.http.get(base)).json()["version"]
    r = await api.http.put(
        f"{base}/owner", json={"owner_role": owner, "assigned_by_role": LEAD, "expected_version": version}
    )
    r.raise_for_status()
    say(f"  PUT  .../local-investigation/owner  {r.status_code}  owner: {r.json()['owner_role']}")
    close = {
        "closed_on": TODAY.isoformat(),
        "findings": "The first image was under-exposed because the detector was not selected; repeated once.",
        "closed_by_role": owner,
        "error_duty_holder": "operator",
        "error_process_step": "exposure_or_delivery",
        "corrective_actions": ["Detector selection added to the pre-exposure checklist"],
        "expected_version": r.json()["version"],
    }
    r = await api.http.post(f"{base}/close", json=close)
    r.raise_for_status()
    say(
        f"  POST .../local-investigation/close  {r.status_code}  {r.json()['status']} on {r.json()['closed_on']}"
    )
    body = await api.deadlines(
        posted.incident_id, lambda b: b["case"]["status"] == "closed", "the case closed"
    )
    say("  deadlines:")
    say_windows(body)
    say_case(body["case"])
    say(
        "    (line 227: records are kept under local procedures; each trust's deadline policy sets the years)"
    )


async def issue(api: Api, submission: str) -> httpx.Response:
    return await api.http.post(
        f"{api.url['reporting']}/v1/submissions/{submission}/issue", json={"submitted_by_role": LEAD}
    )


async def withdrawal_requested(api: Api, posted: Posted) -> None:
    say("\n== a withdrawal awaiting the authority: the CT was notified, then its dose corrected ==")
    draft = {
        "incident_id": posted.incident_id,
        "kind": "notification",
        "contact_role": LEAD,
        "particulars": {
            "preliminary_investigation": "The scanner's dose report gave 12 mSv; a physicist is checking it.",
            "immediate_actions": ["Protocol taken out of use pending review"],
        },
    }
    r = await api.http.post(f"{api.url['reporting']}/v1/submissions", json=draft)
    r.raise_for_status()
    submission = r.json()["submission_id"]
    say(f"  POST /v1/submissions  {r.status_code}  notification drafted with its particulars")
    r = await issue(api, submission)
    r.raise_for_status()
    say(f"  POST /v1/submissions/{submission}/issue  {r.status_code}  {r.json()['status']}")
    await api.deadlines(
        posted.incident_id, window_status("notification", "met"), "the notification window met"
    )
    amendment = {
        "expected_version": posted.stream_version,
        "facts": {"total_effective_dose_msv": 1.5},
        "reason": "The physicist's estimate replaces the scanner's dose report",
    }
    r = await api.http.post(
        f"{api.url['intake']}/v1/incidents/{posted.incident_id}/amendments", json=amendment
    )
    r.raise_for_status()
    say(
        f"  POST /v1/incidents/{posted.incident_id}/amendments  {r.status_code}  "
        f"total_effective_dose_msv 12.0 -> 1.5 (expected_version {posted.stream_version})"
    )
    body = await api.deadlines(
        posted.incident_id, lambda b: b["case"]["status"] == "withdrawal_requested", "the withdrawal request"
    )
    say("  deadlines:")
    say_windows(body)
    say_case(body["case"])
    say(
        "    Nothing is cancelled silently: the 12-week report stays due until the CQC agrees to the\n"
        f"    withdrawal (POST /v1/incidents/{posted.incident_id}/withdrawal records it with its reference)."
    )


async def incomplete_then_complete(api: Api, posted: Posted) -> None:
    say("\n== reporting: a notification drafted incomplete, then completed and issued ==")
    say(f"  {posted.title}")
    draft = {"incident_id": posted.incident_id, "kind": "notification", "contact_role": LEAD}
    r = await api.http.post(f"{api.url['reporting']}/v1/submissions", json=draft)
    r.raise_for_status()
    submission = r.json()["submission_id"]
    say(f"  POST /v1/submissions  {r.status_code}  draft {submission}; it still lacks:")
    for missing in r.json()["missing"]:
        lines = ",".join(str(n) for n in missing["guidance_lines"])
        say(f"    {missing['item']}: {missing['label']} (guidance line {lines})")
    r = await issue(api, submission)
    say(
        f"  POST /v1/submissions/{submission}/issue  {r.status_code}  {r.json()['title']}: {r.json()['detail']}"
    )
    particulars = {
        "preliminary_investigation": "A plan revision was approved without its monitor units recalculated.",
        "immediate_actions": [
            "Treatment paused and the plan recalculated",
            "Independent check of plan revisions",
        ],
    }
    r = await api.http.patch(
        f"{api.url['reporting']}/v1/submissions/{submission}", json={"particulars": particulars}
    )
    r.raise_for_status()
    say(
        f"  PATCH /v1/submissions/{submission}  {r.status_code}  particulars added; "
        f"missing: {r.json()['missing'] or 'nothing'}"
    )
    r = await issue(api, submission)
    r.raise_for_status()
    say(f"  POST /v1/submissions/{submission}/issue  {r.status_code}  {r.json()['status']}")
    body = await api.deadlines(
        posted.incident_id, window_status("notification", "met"), "the notification window met"
    )
    say("  deadlines:")
    say_windows(body)


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
    say("make console starts the same services with a web console at http://127.0.0.1:8004")
    return 0


if __name__ == "__main__":
    sys.exit(main())
