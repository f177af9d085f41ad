"""The classifier decides a batch of facts events in one transaction, over real Kafka and
PostgreSQL: events of one incident in their order, each on the decision before it (made earlier
in the batch or stored), each announcement caused by its own event, and a redelivered batch
changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sievert_classifier.bootstrap import build
from sievert_classifier.settings import ClassifierSettings
from sievert_shared.envelope import Tenant
from sievert_shared.events import IncidentReported
from sievert_shared.kafka import ensure_topics
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings
from tests.integration.test_classifier_service import NOW, amended, facts, reported
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic

pytestmark = pytest.mark.integration


async def test_a_batch_of_facts_events_is_decided_in_order_once(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    first, second, other_trust = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first_reported = reported(first, facts())
    # the dose re-estimated below 10x: no longer notifiable under 2.2
    first_lowered = amended(first, 2, facts(total_effective_dose_msv=2.0), ["total_effective_dose_msv"])
    # an age correction on the lowered facts: nothing to announce
    first_aged = amended(
        first, 3, facts(total_effective_dose_msv=2.0, patient_age_years=55), ["patient_age_years"]
    )
    stale = amended(first, 2, facts(), ["total_effective_dose_msv"])  # older than what is decided by then
    elsewhere = build_envelope(
        IncidentReported(facts=facts(), channel="json"),
        stream_id=other_trust,
        stream_version=1,
        tenant=Tenant(trust="RYY", site="RYY01"),
        correlation_id="corr-other",
        producer="intake",
        now=NOW,
    )
    batch = [first_reported, reported(second, facts()), first_lowered, first_aged, stale, elsewhere]
    key = first_reported.key  # one key: one partition, all there before the consumer starts
    messages: list[tuple[bytes | None, bytes]] = [(key, e.to_json_bytes()) for e in batch]
    await produce(kafka.bootstrap_servers, kafka.topics.incidents, messages)

    settings = ClassifierSettings(
        database_url=await make_database("classifier"), kafka=kafka, environment="test"
    )
    runtime, app = build(settings)
    async with runtime.lifespan(app):
        (consumer,) = runtime.running_consumers

        def all_applied() -> None:
            assert consumer.stats.processed == len(batch)

        await eventually(all_applied)
        # the whole batch delivered again (a rebalance before the commit): nothing changes
        await produce(kafka.bootstrap_servers, kafka.topics.incidents, messages)

        def all_duplicates() -> None:
            assert consumer.stats.duplicates == len(batch)

        await eventually(all_duplicates)
        assert runtime.pool is not None
        stored = {
            r["incident_id"]: r
            for r in await runtime.pool.fetch(
                "SELECT incident_id, trust, facts_version, notifiable, codes, classified_at FROM classifications"
            )
        }
        batches = await runtime.pool.fetchval("SELECT count(DISTINCT processed_at) FROM processed_events")

    assert batches == 1  # the first delivery was one batch, so the batched path decided all of it
    expected = 4  # first: classified, reclassified; second and elsewhere: classified
    decisions = envelopes(
        await read_topic(
            kafka.bootstrap_servers, kafka.topics.classifications, until=lambda r: len(r) >= expected
        )
    )

    def of(
        stream: uuid.UUID,
    ) -> list[tuple[int, str, uuid.UUID | None]]:  # keyed by incident: in order per incident
        return [(d.stream_version, d.event_type, d.causation_id) for d in decisions if d.stream_id == stream]

    assert len(decisions) == expected
    assert of(first) == [
        (1, "IncidentClassified", first_reported.event_id),
        (2, "IncidentReclassified", first_lowered.event_id),
    ]
    assert of(second) == [(1, "IncidentClassified", batch[1].event_id)]
    assert of(other_trust) == [(1, "IncidentClassified", elsewhere.event_id)]
    (reclassified,) = [d.payload for d in decisions if d.event_type == "IncidentReclassified"]
    (from_elsewhere,) = [d for d in decisions if d.stream_id == other_trust]
    assert reclassified["previous_codes"] == ["2.2"]  # the decision made earlier in the same batch
    assert reclassified["decision"]["notifiable"] is False
    assert from_elsewhere.tenant.trust == "RYY" and from_elsewhere.correlation_id == "corr-other"

    assert stored[first]["facts_version"] == 3  # the stale amendment was ignored
    assert stored[first]["notifiable"] is False and stored[first]["codes"] == []
    assert stored[second]["notifiable"] is True and stored[second]["codes"] == ["2.2"]
    assert stored[other_trust]["trust"] == "RYY"
