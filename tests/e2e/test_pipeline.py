"""The four services as separate processes over real Kafka and PostgreSQL: post an incident over
HTTP and follow it through classification, deadlines and the reporting read model."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sievert_shared.envelope import Tenant
from sievert_shared.events import LocalInvestigationClosed
from sievert_shared.kafka import delete_topics_with_prefix
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack
from tests.fixtures.intake_support import MllpClient, hl7_fixture
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic
from tests.support.processes import free_port, service_databases
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.e2e

TODAY = dt.datetime.now(dt.UTC).date()  # so the windows are open, not already missed


class Stack:
    def __init__(
        self, services: dict[str, devstack.RunningService], prefix: str, bootstrap: str, mllp_port: int
    ) -> None:
        self.mllp_port = mllp_port
        self.services = services
        self.prefix = prefix
        self.bootstrap = bootstrap
        self.http = httpx.AsyncClient(timeout=10)

    def url(self, name: str, path: str) -> str:
        return f"{self.services[name].url}{path}"

    async def topic(self, name: str, until: Callable[[list[Any]], bool]) -> list[Any]:
        return envelopes(
            await read_topic(self.bootstrap, f"{self.prefix}.{name}.v1", until=until, timeout=60)
        )


@pytest.fixture(scope="module")
async def databases(infra: Infra) -> AsyncIterator[dict[str, str]]:
    async with service_databases(infra.admin_database_url, "e2e") as urls:
        yield urls


@pytest.fixture(scope="module")
def stack(
    infra: Infra, databases: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    ports = {name: free_port() for name in devstack.SERVICES}
    mllp_port = free_port()
    env = devstack.service_env(
        {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "KAFKA_TOPIC_PREFIX": prefix,
            "INTAKE_MLLP_PORT": str(mllp_port),
        },
        database_urls=databases,
        ports=ports,
    )
    log_dir: Path = tmp_path_factory.mktemp("service-logs")
    with devstack.running(env, ports=ports, log_dir=log_dir) as services:
        yield Stack(services, prefix, infra.kafka_bootstrap, mllp_port)
    asyncio.run(delete_topics_with_prefix(KafkaSettings(bootstrap_servers=infra.kafka_bootstrap), prefix))


async def test_an_incident_flows_from_intake_to_reporting(stack: Stack) -> None:
    correlation = f"e2e-{uuid.uuid4()}"
    response = await stack.http.post(
        stack.url("intake", "/v1/incidents"),
        json=ct_overexposure(discovered_on=TODAY),
        headers={"X-Correlation-ID": correlation},
    )
    assert response.status_code == 202, response.text
    incident = response.json()["incident_id"]

    classified = await stack.topic(
        "classifications", until=lambda r: any(str(e.stream_id) == incident for e in envelopes(r))
    )
    (decision,) = [e for e in classified if str(e.stream_id) == incident]
    assert decision.event_type == "IncidentClassified"
    assert decision.payload["decision"]["notifiable"] is True
    assert "2.2" in decision.payload["decision"]["codes"]  # CQC table, code 2.2: 12x a 1 mSv intended dose
    assert decision.correlation_id == correlation

    async def deadlines_open() -> None:
        r = await stack.http.get(stack.url("deadlines", f"/v1/incidents/{incident}/deadlines"))
        assert r.status_code == 200
        assert {w["window"] for w in r.json()["windows"]} == {"notification", "investigation_report"}

    await eventually(deadlines_open, timeout=60)

    async def projected() -> None:
        r = await stack.http.get(
            stack.url("reporting", "/v1/incidents"), params={"trust": "RXX", "notifiable": True}
        )
        assert r.status_code == 200, r.text
        rows = [i for i in r.json()["items"] if i["incident_id"] == incident]
        assert rows and rows[0]["authority"] == "cqc"
        assert rows[0]["deadlines"].get("notification", {}).get("status") == "open"

    await eventually(projected, timeout=60)

    # the correlation id travelled through Kafka headers into every service's JSON logs
    for name in ("intake", "classifier", "deadlines", "reporting"):
        lines = [json.loads(line) for line in stack.services[name].log_lines() if line.startswith("{")]
        assert any(line.get("correlation_id") == correlation for line in lines), name


async def test_an_amendment_that_changes_the_outcome_reclassifies_and_moves_deadlines(stack: Stack) -> None:
    created = (
        await stack.http.post(stack.url("intake", "/v1/incidents"), json=ct_overexposure(discovered_on=TODAY))
    ).json()
    incident = created["incident_id"]
    amendment = {
        "expected_version": 1,
        # settled: with a fact still missing the decision would be undecided, and the notification
        # window would stay open provisionally (docs/deadlines.md)
        "facts": {
            "total_effective_dose_msv": 1.2,
            "individuals_affected": 1,
            "clinically_significant": False,
        },
        "reason": "dose re-estimated by the medical physics expert",
    }
    response = await stack.http.post(
        stack.url("intake", f"/v1/incidents/{incident}/amendments"), json=amendment
    )
    assert response.status_code == 202, response.text

    events = await stack.topic(
        "classifications",
        until=lambda r: any(
            str(e.stream_id) == incident and e.event_type == "IncidentReclassified" for e in envelopes(r)
        ),
    )
    (reclassified,) = [
        e for e in events if str(e.stream_id) == incident and e.event_type == "IncidentReclassified"
    ]
    assert reclassified.payload["decision"]["notifiable"] is False
    assert reclassified.payload["previous_notifiable"] is True

    async def local_only() -> None:
        r = await stack.http.get(stack.url("deadlines", f"/v1/incidents/{incident}/deadlines"))
        assert r.status_code == 200  # 404 until the first classification has arrived
        windows = {w["window"]: w["status"] for w in r.json()["windows"]}
        assert windows == {
            "notification": "cancelled",
            "investigation_report": "cancelled",
            "local_investigation": "open",
        }

    await eventually(local_only, timeout=60)


async def test_a_closed_case_past_its_retention_shreds_the_patient_in_intake(stack: Stack) -> None:
    """Deadlines closes a case on its local investigation and, the retention being over, emits
    CaseRetentionExpired; intake shreds the patient's identifiers as erasure does."""
    policy = {
        "local_investigation_days": 30,
        "notification_reminders": [7, 3, 1],
        "report_reminders": [28, 14, 7, 1],
        "local_investigation_reminders": [7],
        "retention_years_other": 1,
    }
    put = await stack.http.put(stack.url("deadlines", "/v1/trusts/RXX/deadline-policy"), json=policy)
    assert put.status_code == 200, put.text
    body = ct_overexposure(discovered_on=dt.date(2023, 1, 10))  # an old incident, recorded late
    body["facts"].update(
        {"total_effective_dose_msv": 1.2, "individuals_affected": 1, "clinically_significant": False}
    )
    # a patient of their own: no other incident of theirs is still kept, so the key is shredded
    body["patient"] = {"hospital_number": f"MRN-{uuid.uuid4().hex[:10]}", "family_name": "Quixote"}
    created = await stack.http.post(stack.url("intake", "/v1/incidents"), json=body)
    assert created.status_code == 202, created.text
    incident = created.json()["incident_id"]
    patient_url = stack.url("intake", f"/v1/incidents/{incident}/patient")
    assert (await stack.http.get(patient_url)).status_code == 200

    async def local_window() -> None:
        r = await stack.http.get(stack.url("deadlines", f"/v1/incidents/{incident}/deadlines"))
        assert r.status_code == 200
        assert "local_investigation" in {w["window"] for w in r.json()["windows"]}

    await eventually(local_window, timeout=60)
    closed = build_envelope(  # what reporting publishes when the investigation's record is closed
        LocalInvestigationClosed(
            owner_role="RPA", closed_by_role="RP lead", closed_on=dt.date(2023, 2, 1), findings="repeat"
        ),
        stream_id=uuid.UUID(incident),
        stream_version=1,
        tenant=Tenant(trust="RXX", site="RXX01"),
        correlation_id=f"e2e-retention-{incident}",
        producer="reporting",
        now=dt.datetime.now(dt.UTC),
    )
    await produce(stack.bootstrap, f"{stack.prefix}.cases.v1", [(closed.key, closed.to_json_bytes())])

    cases = await stack.topic(
        "cases",
        until=lambda r: any(
            str(e.stream_id) == incident and e.event_type == "CaseRetentionExpired" for e in envelopes(r)
        ),
    )
    mine = [e for e in cases if str(e.stream_id) == incident]
    assert [e.event_type for e in mine][-2:] == ["CaseClosed", "CaseRetentionExpired"]
    expired = mine[-1]

    async def shredded() -> None:
        assert (await stack.http.get(patient_url)).status_code == 410

    await eventually(shredded, timeout=60)
    audit = (await stack.http.get(stack.url("intake", f"/v1/incidents/{incident}/audit"))).json()["entries"]
    # audited with the event's correlation id: the case's, carried from the incident's first request
    assert ("patient_erased", "retention", expired.correlation_id) in [
        (e["action"], e["actor"], e["correlation_id"]) for e in audit
    ]


async def test_every_service_is_healthy_and_ready(stack: Stack) -> None:
    for name in devstack.SERVICES:
        assert (await stack.http.get(stack.url(name, "/healthz"))).status_code == 200
        ready = await stack.http.get(stack.url(name, "/readyz"))
        assert ready.status_code == 200, (name, ready.text)


async def test_an_hl7_v2_adverse_event_over_mllp_is_classified_like_json(stack: Stack) -> None:
    engine = await MllpClient.connect(stack.mllp_port)
    try:
        ack = await engine.request(hl7_fixture("pex_p07_ct_overexposure.hl7"))
    finally:
        await engine.close()
    assert ack.code == "AA", ack.segments

    def reported_over_hl7(records: list[Any]) -> list[Any]:
        return [
            e
            for e in envelopes(records)
            if e.event_type == "IncidentReported" and e.payload["channel"] == "hl7v2"
        ]

    (reported,) = reported_over_hl7(
        await read_topic(
            stack.bootstrap, f"{stack.prefix}.incidents.v1", until=lambda r: bool(reported_over_hl7(r))
        )
    )
    events = await stack.topic(
        "classifications", until=lambda r: any(e.stream_id == reported.stream_id for e in envelopes(r))
    )
    (decision,) = [e for e in events if e.stream_id == reported.stream_id]
    # the same facts as the JSON sample: 12 mSv against 1 mSv intended, CT, England (code 2.2)
    assert decision.payload["decision"]["codes"] == ["2.2"]
    assert decision.payload["decision"]["authority"] == "cqc"


async def test_each_services_metrics_move_with_an_incident(stack: Stack) -> None:
    """``curl :800N/metrics``, as Prometheus would, before and after one incident: each service's
    counters move (other tests of this module post too, so the check is on the difference)."""
    consumed = {
        "classifier": ("classifier.incidents", "IncidentReported"),
        "deadlines": ("deadlines.windows", "IncidentClassified"),
        "reporting": ("reporting.incident-projection", "IncidentClassified"),
    }

    async def scrape(name: str) -> str:
        answer = await stack.http.get(stack.url(name, "/metrics"))
        assert answer.status_code == 200, (name, answer.text)
        return answer.text

    def handled(text: str, consumer: str, event_type: str) -> float:
        return _sample(
            text, "sievert_consumer_events_handled_total", consumer=consumer, event_type=event_type
        )

    before = {name: await scrape(name) for name in stack.services}
    response = await stack.http.post(
        stack.url("intake", "/v1/incidents"), json=ct_overexposure(discovered_on=TODAY)
    )
    assert response.status_code == 202, response.text

    async def moved() -> None:
        after = {name: await scrape(name) for name in ("intake", *consumed)}
        posted = {"route": "/v1/incidents", "status": "202"}
        assert _sample(after["intake"], "sievert_http_requests_total", **posted) == (
            _sample(before["intake"], "sievert_http_requests_total", **posted) + 1
        )
        for name, (consumer, event_type) in consumed.items():
            assert handled(after[name], consumer, event_type) > handled(before[name], consumer, event_type), (
                name
            )
        assert _sample(after["deadlines"], "sievert_timers_pending") > 0

    await eventually(moved, timeout=60)


def _sample(exposition: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_idempotent_amendment_retry_gets_the_stored_answer_not_a_version_conflict(stack: Stack) -> None:
    """An engine that lost the answer to an amendment (a timeout, a 503, a replica killed after
    the commit) sends it again with the same Idempotency-Key and body: the key is answered before
    the version check, so it gets the first answer, not 409, and the facts change once."""
    created = await stack.http.post(
        stack.url("intake", "/v1/incidents"), json=ct_overexposure(discovered_on=TODAY)
    )
    incident = created.json()["incident_id"]
    url = stack.url("intake", f"/v1/incidents/{incident}/amendments")
    amendment = {"expected_version": 1, "facts": {"individuals_affected": 1}, "reason": "count confirmed"}
    key = {"Idempotency-Key": f"amend-{uuid.uuid4()}"}

    first = await stack.http.post(url, json=amendment, headers=key)
    retried = await stack.http.post(url, json=amendment, headers=key)
    other_body = await stack.http.post(url, json={**amendment, "reason": "another"}, headers=key)
    unkeyed = await stack.http.post(url, json=amendment)  # without the key: version 1 is gone

    assert first.status_code == 202, first.text
    assert (retried.status_code, retried.json()) == (202, first.json())
    assert other_body.status_code == 409
    assert unkeyed.status_code == 409
    history = (await stack.http.get(stack.url("intake", f"/v1/incidents/{incident}"))).json()["history"]
    assert [h["event_type"] for h in history] == ["IncidentReported", "IncidentFactsAmended"]
