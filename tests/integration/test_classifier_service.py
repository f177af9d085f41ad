"""The classifier service over real Kafka and PostgreSQL: decide once, re-decide only on change."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sievert_classifier.bootstrap import build
from sievert_classifier.settings import ClassifierSettings
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import IncidentFactsAmended, IncidentReported
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

NOW = dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC)
TENANT = Tenant(trust="RXX", site="RXX01")


def facts(**changes: Any) -> IncidentFacts:
    return IncidentFacts.model_validate({**ct_overexposure()["facts"], **changes})


def reported(incident: uuid.UUID, fact_set: IncidentFacts) -> EventEnvelope:
    return build_envelope(
        IncidentReported(facts=fact_set, channel="json"),
        stream_id=incident,
        stream_version=1,
        tenant=TENANT,
        correlation_id="corr-cls",
        producer="intake",
        now=NOW,
    )


def amended(incident: uuid.UUID, version: int, fact_set: IncidentFacts, changed: list[str]) -> EventEnvelope:
    return build_envelope(
        IncidentFactsAmended(facts=fact_set, changed_fields=changed, reason="corrected", channel="json"),
        stream_id=incident,
        stream_version=version,
        tenant=TENANT,
        correlation_id="corr-cls",
        producer="intake",
        now=NOW,
    )


@dataclass
class Classifier:
    client: httpx.AsyncClient
    kafka: KafkaSettings
    runtime: ServiceRuntime

    async def send(self, *events: EventEnvelope) -> None:
        await produce(
            self.kafka.bootstrap_servers,
            self.kafka.topics.incidents,
            [(e.key, e.to_json_bytes()) for e in events],
        )

    async def decisions(self, incident: uuid.UUID, at_least: int) -> list[EventEnvelope]:
        def mine(records: list[Any]) -> list[EventEnvelope]:
            return [e for e in envelopes(records) if e.stream_id == incident]

        records = await read_topic(
            self.kafka.bootstrap_servers,
            self.kafka.topics.classifications,
            until=lambda r: len(mine(r)) >= at_least,
        )
        return sorted(mine(records), key=lambda e: e.stream_version)


@pytest.fixture
async def classifier(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Classifier]:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    settings = ClassifierSettings(
        database_url=await make_database("classifier"), kafka=kafka, environment="test"
    )
    runtime, app = build(settings)
    transport = httpx.ASGITransport(app=app)
    async with runtime.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://cls") as client:
        yield Classifier(client, kafka, runtime)


async def test_reported_facts_are_classified_with_reasons(classifier: Classifier) -> None:
    incident = uuid.uuid4()
    await classifier.send(reported(incident, facts()))

    (decision,) = await classifier.decisions(incident, at_least=1)

    assert decision.event_type == "IncidentClassified"
    assert decision.correlation_id == "corr-cls"
    assert decision.payload["decision"]["codes"] == ["2.2"]  # CQC table, code 2.2: 12x a 1 mSv intended dose
    assert decision.payload["decision"]["authority"] == "cqc"
    assert decision.payload["facts_version"] == 1


async def test_an_amendment_that_changes_the_outcome_reclassifies_and_one_that_does_not_is_silent(
    classifier: Classifier,
) -> None:
    incident = uuid.uuid4()
    await classifier.send(
        reported(incident, facts()),
        # an age correction that leaves every code as it was: nothing to announce
        amended(incident, 2, facts(patient_age_years=55), ["patient_age_years"]),
        # the dose was re-estimated below 10x: no longer notifiable under 2.2
        amended(
            incident,
            3,
            facts(patient_age_years=55, total_effective_dose_msv=2.0),
            ["total_effective_dose_msv"],
        ),
    )

    decisions = await classifier.decisions(incident, at_least=2)

    assert [d.event_type for d in decisions] == ["IncidentClassified", "IncidentReclassified"]
    change = decisions[1].payload
    assert change["decision"]["notifiable"] is False
    assert change["previous_codes"] == ["2.2"]
    assert change["facts_version"] == 3
    assert any(c.startswith("notifiable: True -> False") for c in change["changes"])


async def test_redelivered_facts_do_not_classify_twice(classifier: Classifier) -> None:
    incident = uuid.uuid4()
    event = reported(incident, facts())
    await classifier.send(event, event)
    (consumer,) = classifier.runtime.running_consumers

    def both_copies_consumed() -> None:
        assert consumer.stats.processed == 1
        assert consumer.stats.duplicates == 1

    await eventually(both_copies_consumed)
    decisions = await classifier.decisions(incident, at_least=1)
    assert len(decisions) == 1


async def test_the_dry_run_decides_without_storing(classifier: Classifier) -> None:
    response = await classifier.client.post("/v1/classify", json=facts().model_dump(mode="json"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["notifiable"] is True and body["codes"] == ["2.2"]
    assert any(r["code"] == "2.2" and r["citation"]["lines"] for r in body["reasons"])


async def test_the_dry_run_names_bad_fields(classifier: Classifier) -> None:
    response = await classifier.client.post(
        "/v1/classify", json={"nation": "england", "modality": "teleport"}
    )

    assert response.status_code == 422
    paths = {e["path"] for e in response.json()["errors"]}
    assert {"body/modality", "body/discovered_on", "body/exposure_kind"} <= paths
