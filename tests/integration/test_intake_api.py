"""Intake over HTTP against real PostgreSQL and Kafka: store durably, publish, refuse bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from sievert_intake.bootstrap import build
from sievert_intake.settings import IntakeSettings
from sievert_shared.settings import KafkaSettings
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, read_topic
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration


class Intake:
    def __init__(self, client: httpx.AsyncClient, database_url: str, settings: IntakeSettings) -> None:
        self.client = client
        self.database_url = database_url
        self.settings = settings

    async def stored_events(self) -> int:
        conn = await asyncpg.connect(self.database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM events"))
        finally:
            await conn.close()


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Intake]:
    url = await make_database("intake")
    settings = IntakeSettings(
        database_url=url,
        kafka=KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix),
        environment="test",
    )
    runtime, app = build(settings)
    async with runtime.lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield Intake(client, url, settings)


async def test_a_report_is_stored_published_and_read_back(intake: Intake, infra: Infra) -> None:
    body = ct_overexposure()
    response = await intake.client.post("/v1/incidents", json=body, headers={"X-Correlation-ID": "corr-abc"})

    assert response.status_code == 202, response.text
    incident_id = response.json()["incident_id"]
    assert response.headers["Location"] == f"/v1/incidents/{incident_id}"

    read = (await intake.client.get(f"/v1/incidents/{incident_id}")).json()
    assert read["facts"]["total_effective_dose_msv"] == 12.0
    assert [h["event_type"] for h in read["history"]] == ["IncidentReported"]

    topic = intake.settings.kafka.topics.incidents
    records = await read_topic(infra.kafka_bootstrap, topic, until=lambda r: len(r) >= 1)
    (published,) = envelopes(records)
    assert str(published.stream_id) == incident_id
    assert published.correlation_id == "corr-abc"
    assert records[0].key == incident_id.encode()
    assert dict(records[0].headers)["event_type"] == b"IncidentReported"


async def test_the_same_idempotency_key_and_body_give_the_same_answer(intake: Intake) -> None:
    body = ct_overexposure()
    headers = {"Idempotency-Key": "engine-msg-0001"}
    first = await intake.client.post("/v1/incidents", json=body, headers=headers)
    # the same meaning with another key order is the same request
    reordered = json.loads(json.dumps(body, sort_keys=True))
    second = await intake.client.post("/v1/incidents", json=reordered, headers=headers)

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert await intake.stored_events() == 1


async def test_the_same_idempotency_key_with_another_body_is_a_conflict(intake: Intake) -> None:
    headers = {"Idempotency-Key": "engine-msg-0002"}
    assert (
        await intake.client.post("/v1/incidents", json=ct_overexposure(), headers=headers)
    ).status_code == 202
    other = ct_overexposure(site="RXX02")
    response = await intake.client.post("/v1/incidents", json=other, headers=headers)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert await intake.stored_events() == 1


async def test_bad_input_names_every_bad_field_and_stores_nothing(intake: Intake) -> None:
    body = ct_overexposure()
    body["facts"]["total_effective_dose_msv"] = -3
    body["facts"]["modality"] = "x-ray-vision"
    del body["facts"]["nation"]
    body["trust"] = ""

    response = await intake.client.post("/v1/incidents", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    paths = {e["path"] for e in response.json()["errors"]}
    assert {
        "body/trust",
        "body/facts/nation",
        "body/facts/modality",
        "body/facts/total_effective_dose_msv",
    } <= paths
    assert await intake.stored_events() == 0


async def test_an_amendment_needs_the_current_version(intake: Intake) -> None:
    created = (await intake.client.post("/v1/incidents", json=ct_overexposure())).json()
    incident = created["incident_id"]
    amendment = {
        "expected_version": 1,
        "facts": {"total_effective_dose_msv": 30.0},
        "reason": "dose re-estimated",
    }

    accepted = await intake.client.post(f"/v1/incidents/{incident}/amendments", json=amendment)
    stale = await intake.client.post(f"/v1/incidents/{incident}/amendments", json=amendment)

    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["changed_fields"] == ["total_effective_dose_msv"]
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    read = (await intake.client.get(f"/v1/incidents/{incident}")).json()
    assert read["stream_version"] == 2
    assert read["facts"]["total_effective_dose_msv"] == 30.0
    assert read["history"][1]["reason"] == "dose re-estimated"


async def test_an_invalid_amendment_is_refused_with_its_path(intake: Intake) -> None:
    incident = (await intake.client.post("/v1/incidents", json=ct_overexposure())).json()["incident_id"]
    bad = {"expected_version": 1, "facts": {"patient_age_years": "old"}, "reason": "typo"}

    response = await intake.client.post(f"/v1/incidents/{incident}/amendments", json=bad)

    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["body/facts/patient_age_years"]
    assert await intake.stored_events() == 1


async def test_unknown_incidents_are_404(intake: Intake) -> None:
    response = await intake.client.get("/v1/incidents/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404


async def test_ready_when_postgres_and_kafka_answer(intake: Intake) -> None:
    # ready once its consumer's group has given it its partitions, too: polled, not assumed at start
    await eventually(lambda: _ready(intake.client))
    response = await intake.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "checks": {"postgres": "ok", "kafka": "ok", "consumer intake.retention": "ok"},
    }
    assert (await intake.client.get("/healthz")).status_code == 200


async def test_an_oversized_body_is_refused_before_it_is_parsed(intake: Intake) -> None:
    limit = intake.settings.max_body_bytes
    body = ct_overexposure()
    body["source_message_id"] = "x" * (limit + 1)

    by_length = await intake.client.post("/v1/incidents", json=body)

    # No Content-Length: the limit is enforced while the body streams in.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"trust": "RXX", "padding": "'
        for _ in range(limit // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    streamed = await intake.client.post(
        "/v1/incidents", content=chunks(), headers={"content-type": "application/json"}
    )

    for response in (by_length, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
    assert await intake.stored_events() == 0


async def _ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/readyz")).status_code == 200
