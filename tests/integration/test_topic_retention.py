"""The topics Sievert creates keep every event (``retention.ms=-1``) on the real broker, whose
own default here deletes them after 24 hours (7 days on a stock broker); a topic made before
with a shorter retention is named in a warning at start, and left as it is."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from structlog.testing import capture_logs

from sievert_shared.kafka import ensure_topics, topic_retentions
from sievert_shared.settings import KafkaSettings
from tests.support.infra import Infra
from tests.support.kafka import eventually

pytestmark = pytest.mark.integration

HOUR = 3_600_000


async def test_created_topics_keep_events_for_ever_and_a_shorter_one_made_before_is_named(
    infra: Infra, topic_prefix: str
) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix, topic_retention_ms=-1
    )
    topics = kafka.topics.all()
    made_before = topics[0]
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(made_before, 1, 1, topic_configs={"retention.ms": str(HOUR)})])

        async def listed() -> None:
            assert made_before in await admin.list_topics()

        await eventually(listed, timeout=15)
        with capture_logs() as logs:
            await ensure_topics(kafka, topics)

        async def described() -> None:
            retentions = await topic_retentions(admin, topics)
            assert retentions == {made_before: HOUR} | {t: -1 for t in topics[1:]}  # the first as made

        await eventually(described, timeout=15)
    finally:
        await admin.close()

    warnings = [e for e in logs if e["event"] == "kafka.topic_retention_short"]
    assert len(warnings) == 1, logs
    assert warnings[0]["topics"] == {made_before: HOUR}
    assert "--entity-name <topic> --add-config retention.ms=-1" in warnings[0]["fix"]

    with capture_logs() as again:
        await ensure_topics(kafka, topics[1:])
    assert not [e for e in again if e["event"] == "kafka.topic_retention_short"], again


async def test_a_limit_set_for_a_throwaway_environment_is_what_the_topics_get(
    infra: Infra, topic_prefix: str
) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix, topic_retention_ms=2 * HOUR
    )
    await ensure_topics(kafka, kafka.topics.all())
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()

    async def described() -> None:
        # a topic just made is described once its metadata has reached the broker answering
        retentions = await topic_retentions(admin, kafka.topics.all())
        assert retentions == {t: 2 * HOUR for t in kafka.topics.all()}

    try:
        await eventually(described, timeout=15)
    finally:
        await admin.close()
