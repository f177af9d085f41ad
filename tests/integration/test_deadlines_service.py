"""The deadlines service over real Kafka and PostgreSQL, with a fake clock moved across weeks."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sievert_classifier.domain import classify
from sievert_deadlines.bootstrap import build
from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event, IncidentClassified, IncidentReclassified
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic

pytestmark = pytest.mark.integration

DISCOVERED = dt.date(2025, 6, 2)
TENANT = Tenant(trust="RXX", site="RXX01")


def facts(total_msv: float) -> IncidentFacts:
    return IncidentFacts.model_validate(
        {
            "nation": "england",
            "discovered_on": DISCOVERED.isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 60,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": total_msv,
        }
    )


def from_classifier(event: Event, incident: uuid.UUID, version: int, now: dt.datetime) -> EventEnvelope:
    return build_envelope(
        event,
        stream_id=incident,
        stream_version=version,
        tenant=TENANT,
        correlation_id="corr-dl",
        producer="classifier",
        now=now,
    )


def classified(incident: uuid.UUID, total_msv: float, now: dt.datetime, version: int = 1) -> EventEnvelope:
    decision = classify(facts(total_msv))
    event = IncidentClassified(decision=decision, discovered_on=DISCOVERED, facts_version=version)
    return from_classifier(event, incident, version, now)


def reclassified(incident: uuid.UUID, total_msv: float, now: dt.datetime, version: int) -> EventEnvelope:
    decision = classify(facts(total_msv))
    event = IncidentReclassified(
        decision=decision,
        discovered_on=DISCOVERED,
        facts_version=version,
        previous_notifiable=False,
        previous_codes=[],
        previous_discovered_on=DISCOVERED,
        changes=["notifiable: False -> True"],
    )
    return from_classifier(event, incident, version, now)


@dataclass
class Deadlines:
    client: httpx.AsyncClient
    service: DeadlinesService
    clock: FakeClock
    kafka: KafkaSettings

    async def events(self, incident: uuid.UUID, at_least: int) -> list[EventEnvelope]:
        def mine(records: list[Any]) -> list[EventEnvelope]:
            return [e for e in envelopes(records) if e.stream_id == incident]

        records = await read_topic(
            self.kafka.bootstrap_servers,
            self.kafka.topics.deadlines,
            until=lambda r: len(mine(r)) >= at_least,
        )
        return sorted(mine(records), key=lambda e: e.stream_version)

    async def windows(self, incident: uuid.UUID) -> dict[str, dict[str, Any]]:
        response = await self.client.get(f"/v1/incidents/{incident}/deadlines")
        assert response.status_code == 200, response.text
        return {w["window"]: w for w in response.json()["windows"]}


@pytest.fixture
async def deadlines(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Deadlines]:
    clock = FakeClock(dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC))
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    settings = DeadlinesSettings(
        database_url=await make_database("deadlines"), kafka=kafka, environment="test"
    )
    runtime, app, service = build(settings, clock)
    transport = httpx.ASGITransport(app=app)
    async with runtime.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://dl") as client:
        yield Deadlines(client, service, clock, kafka)


async def test_a_notifiable_incident_opens_both_windows_and_reminds_on_time(deadlines: Deadlines) -> None:
    incident = uuid.uuid4()
    await produce(
        deadlines.kafka.bootstrap_servers,
        deadlines.kafka.topics.classifications,
        [(incident.bytes, classified(incident, 12.0, deadlines.clock.now()).to_json_bytes())],
    )

    async def windows_open() -> None:
        response = await deadlines.client.get(f"/v1/incidents/{incident}/deadlines")
        assert response.status_code == 200

    await eventually(windows_open)
    windows = await deadlines.windows(incident)
    # end of 16 June 2025 in London (BST) is 23:00 UTC: see docs/deadlines.md
    assert windows["notification"]["due_at"] == "2025-06-16T23:00:00+00:00"
    assert windows["investigation_report"]["due_at"] == "2025-08-25T23:00:00+00:00"

    # 2 days after discovery: the early "as soon as possible" reminder (line 218)
    deadlines.clock.set(dt.datetime(2025, 6, 3, 23, 0, tzinfo=dt.UTC))
    await deadlines.service.fire_due()  # or the service's own timer loop got there first
    await deadlines.events(incident, at_least=3)

    # 7 days before the notification due: the first reminder before the due, and nothing earlier
    deadlines.clock.set(dt.datetime(2025, 6, 9, 22, 59, tzinfo=dt.UTC))
    assert await deadlines.service.fire_due() == 0
    deadlines.clock.set(dt.datetime(2025, 6, 9, 23, 0, tzinfo=dt.UTC))
    await deadlines.service.fire_due()

    events = await deadlines.events(incident, at_least=4)
    assert [e.event_type for e in events] == [
        "DeadlineScheduled",
        "DeadlineScheduled",
        "DeadlineApproaching",
        "DeadlineApproaching",
    ]
    assert (events[2].payload["reminder"], events[2].payload["early"]) == ("P2D", True)
    assert events[3].payload["reminder"] == "P7D"
    assert events[3].payload["window"] == "notification"


async def test_a_submission_meets_the_window_and_stops_its_timers(deadlines: Deadlines) -> None:
    incident = uuid.uuid4()
    await produce(
        deadlines.kafka.bootstrap_servers,
        deadlines.kafka.topics.classifications,
        [(incident.bytes, classified(incident, 12.0, deadlines.clock.now()).to_json_bytes())],
    )
    await eventually(lambda: _has_windows(deadlines, incident))
    response = await deadlines.client.post(
        f"/v1/incidents/{incident}/submissions",
        json={
            "kind": "notification",
            "authority": "CQC",
            "submitted_at": "2025-06-05T10:00:00Z",
            "submitted_by_role": "Radiation protection adviser",
        },
    )
    assert response.status_code == 202, response.text

    async def met() -> None:
        assert (await deadlines.windows(incident))["notification"]["status"] == "met"

    await eventually(met)
    deadlines.clock.set(dt.datetime(2025, 7, 1, tzinfo=dt.UTC))  # past the notification due
    await deadlines.service.fire_due()
    events = await deadlines.events(incident, at_least=3)
    notification = [e.event_type for e in events if e.payload["window"] == "notification"]
    assert notification == ["DeadlineScheduled", "DeadlineMet"]


async def test_late_reclassification_to_notifiable_fires_missed_at_once(deadlines: Deadlines) -> None:
    incident = uuid.uuid4()
    deadlines.clock.set(dt.datetime(2025, 7, 1, 9, 0, tzinfo=dt.UTC))  # 4 weeks after discovery
    await produce(
        deadlines.kafka.bootstrap_servers,
        deadlines.kafka.topics.classifications,
        [
            (incident.bytes, classified(incident, 1.5, deadlines.clock.now()).to_json_bytes()),
            (incident.bytes, reclassified(incident, 12.0, deadlines.clock.now(), version=2).to_json_bytes()),
        ],
    )
    events = await deadlines.events(incident, at_least=5)
    kinds = [(e.event_type, e.payload["window"]) for e in events]
    assert ("DeadlineCancelled", "local_investigation") in kinds
    assert ("DeadlineMissed", "notification") in kinds
    assert ("DeadlineMissed", "investigation_report") not in kinds


async def test_the_report_window_can_be_extended_once_agreed(deadlines: Deadlines) -> None:
    incident = uuid.uuid4()
    await produce(
        deadlines.kafka.bootstrap_servers,
        deadlines.kafka.topics.classifications,
        [(incident.bytes, classified(incident, 12.0, deadlines.clock.now()).to_json_bytes())],
    )
    await eventually(lambda: _has_windows(deadlines, incident))
    url = f"/v1/incidents/{incident}/deadlines/investigation_report/extensions"
    body = {
        "extended_to": "2025-09-30",
        "agreed_by": "CQC inspector",
        "reason": "awaiting external dosimetry",
    }

    response = await deadlines.client.post(url, json=body)
    earlier = await deadlines.client.post(url, json={**body, "extended_to": "2025-07-01"})

    assert response.status_code == 200, response.text
    windows = {w["window"]: w for w in response.json()["windows"]}
    assert windows["investigation_report"]["due_at"] == "2025-09-30T23:00:00+00:00"
    assert windows["investigation_report"]["extensions"] == 1
    assert earlier.status_code == 409


async def _has_windows(deadlines: Deadlines, incident: uuid.UUID) -> None:
    response = await deadlines.client.get(f"/v1/incidents/{incident}/deadlines")
    assert response.status_code == 200


async def test_a_trusts_policy_sets_its_local_window_and_reminders(deadlines: Deadlines) -> None:
    policy = {
        "local_investigation_days": 60,
        "notification_reminders": [5, 2],
        "report_reminders": [14],
        "local_investigation_reminders": [10],
    }
    refused = await deadlines.client.put(
        "/v1/trusts/RXX/deadline-policy", json={**policy, "report_reminders": [0]}
    )
    stored = await deadlines.client.put("/v1/trusts/RXX/deadline-policy", json=policy)
    assert refused.status_code == 422
    assert stored.status_code == 200, stored.text
    assert (await deadlines.client.get("/v1/trusts/RXX/deadline-policy")).json()[
        "local_investigation_days"
    ] == 60

    incident = uuid.uuid4()
    await produce(
        deadlines.kafka.bootstrap_servers,
        deadlines.kafka.topics.classifications,
        [(incident.bytes, classified(incident, 1.5, deadlines.clock.now()).to_json_bytes())],
    )
    await eventually(lambda: _has_windows(deadlines, incident))
    windows = await deadlines.windows(incident)
    # 60 days from discovery on 2 June 2025: the window closes at the end of 1 August (BST)
    assert windows["local_investigation"]["due_at"] == "2025-08-01T23:00:00+00:00"
