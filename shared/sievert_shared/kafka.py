"""aiokafka clients built from settings. Each is started and stopped by its owner in try/finally."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from sievert_shared.logging import get_logger
from sievert_shared.settings import KafkaSettings

log = get_logger(__name__)


def new_producer(settings: KafkaSettings, *, client_id: str) -> AIOKafkaProducer:
    # Idempotent with acks=all: a retried send never duplicates or reorders within a partition.
    return AIOKafkaProducer(
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        **settings.client_kwargs(),
    )


def new_consumer(settings: KafkaSettings, *topics: str, group_id: str, client_id: str) -> AIOKafkaConsumer:
    instance = settings.group_instance_id
    return AIOKafkaConsumer(
        *topics,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,  # offsets are committed after the effect is stored
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=500,
        # aiokafka hands out one partition's fetched records until they are used up before the
        # next partition's: with 1 MiB per partition (its default) and a backlog on twenty
        # partitions, the last one waited minutes (a fault run measured 238 s). 64 KiB (about a
        # hundred events) keeps every partition moving.
        max_partition_fetch_bytes=64 * 1024,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
        # A rebalance waits this long for the members to rejoin: a member that died mid-rebalance
        # holds everyone up until then, so no longer than a session.
        rebalance_timeout_ms=settings.consumer_session_timeout_ms,
        group_instance_id=f"{instance}.{client_id}" if instance else None,
        **settings.client_kwargs(),
    )


def headers_for(envelope: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """Kafka headers of an envelope as stored in the outbox, so consumers and dashboards can route
    on the type without decoding the value."""
    return [
        ("event_type", str(envelope["event_type"]).encode()),
        ("schema_version", str(envelope["schema_version"]).encode()),
        ("correlation_id", str(envelope["correlation_id"]).encode()),
        ("content-type", b"application/json"),
    ]


async def ensure_topics(settings: KafkaSettings, topics: list[str]) -> None:
    """Create topics up front so consumers never race auto-creation, keeping events for
    ``topic_retention_ms``; warn about existing ones that keep them for less."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            # Another service may create the same topic between our list and our create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name=t,
                            num_partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor,
                            topic_configs={"retention.ms": str(settings.topic_retention_ms)},
                        )
                        for t in missing
                    ]
                )
        await _warn_of_short_retention(admin, settings, [t for t in topics if t in existing])
    finally:
        await admin.close()


def retention_falls_short(retention_ms: int, wanted_ms: int) -> bool:
    """Whether a topic keeping events ``retention_ms`` (-1: for ever) keeps them less long than
    ``wanted_ms`` asks."""
    if retention_ms < 0:
        return False
    return wanted_ms < 0 or retention_ms < wanted_ms


async def topic_retentions(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """Each topic's effective ``retention.ms`` (its own, or the broker's default)."""
    if not topics:
        return {}
    answers = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, t, {"retention.ms": None}) for t in topics]
    )
    found: dict[str, int] = {}
    for answer in answers:
        for _error, _message, _type, name, entries, *_ in answer.resources:
            for config_name, value, *_ in entries:
                if config_name == "retention.ms" and value is not None:
                    found[name] = int(value)
    return found


async def _warn_of_short_retention(
    admin: AIOKafkaAdminClient, settings: KafkaSettings, topics: list[str]
) -> None:
    """Topics made before (by an older Sievert, by hand, or auto-created) may keep events for the
    broker's default only. Altering them is the operator's call (it needs a permission a service
    should not hold); saying so loudly at every start is ours."""
    try:
        retentions = await topic_retentions(admin, topics)
    except KafkaError as exc:  # e.g. no DescribeConfigs permission: say so, do not stop
        log.info("kafka.topic_retention_unchecked", error=f"{type(exc).__name__}: {exc}")
        return
    short = {
        t: ms
        for t, ms in sorted(retentions.items())
        if retention_falls_short(ms, settings.topic_retention_ms)
    }
    if short:
        log.warning(
            "kafka.topic_retention_short",
            topics=short,
            wanted_retention_ms=settings.topic_retention_ms,
            consequence="events older than a topic's retention are deleted: a replay rebuilds without "
            "them, and a consumer that was down longer than that skips them",
            fix="kafka-configs.sh --alter --entity-type topics --entity-name <topic> "
            f"--add-config retention.ms={settings.topic_retention_ms}",
        )


async def kafka_ready(producer: AIOKafkaProducer, *, within_seconds: float = 2.0) -> None:
    """A real metadata round trip: raises if the cluster does not answer in time."""
    ok = await asyncio.wait_for(producer.client.fetch_all_metadata(), within_seconds)
    if ok is None:
        raise ConnectionError("Kafka returned no metadata")


async def delete_topics_with_prefix(settings: KafkaSettings, prefix: str) -> list[str]:
    """Remove a test's or a demo's topics so the broker does not accumulate partitions."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(f"{prefix}.")]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


async def log_starts(settings: KafkaSettings, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The first offset each partition still holds: 0 unless the broker deleted its oldest
    records (retention, or a deletion by hand), since Sievert's producers write no transaction
    markers."""
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **settings.client_kwargs())
    await consumer.start()
    try:
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
        return starts
    finally:
        await consumer.stop()


async def partitions_of(settings: KafkaSettings, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (a topic nobody has written to yet has none)."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t in existing]
        described = await admin.describe_topics(wanted) if wanted else []
        return sorted(
            (TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]),
            key=lambda tp: (tp.topic, tp.partition),
        )
    finally:
        await admin.close()
