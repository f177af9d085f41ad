"""Reporting tells dashboards a trust's deadline counts once per consumed batch: several deadline
events of one trust in a batch give one DeadlineCountsChanged with the counts as the batch left
them, each trust of the batch gets its own, and a batch delivered again announces nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sievert_reporting.bootstrap import build
from sievert_reporting.domain.dashboard import deadline_counts
from sievert_reporting.settings import ReportingSettings
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import DeadlineMet, DeadlineScheduled, Event, Window
from sievert_shared.kafka import ensure_topics
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import envelopes, produce, read_topic
from tests.support.reporting import envelope

pytestmark = pytest.mark.integration

NOW = dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC)
#: one Kafka key for every event, so they share a partition and the consumer fetches them together
KEY = uuid.uuid4().bytes


def scheduled(window: Window, days: int) -> DeadlineScheduled:
    return DeadlineScheduled(
        window=window, due_at=NOW + dt.timedelta(days=days), discovered_on=NOW.date(), authority="cqc"
    )


def logged(event: Event, incident: uuid.UUID, trust: str, version: int, n: int) -> EventEnvelope:
    return envelope(
        event, incident, f"{trust}01", "deadlines", NOW, trust, version=version, correlation_id=f"c{n}"
    )


@asynccontextmanager
async def reporting_service(kafka: KafkaSettings, database_url: str) -> AsyncIterator[None]:
    settings = ReportingSettings(database_url=database_url, kafka=kafka, environment="test")
    runtime, app = build(settings, FakeClock(NOW))
    async with runtime.lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app)):
        yield


def counts_of(records: list[Any]) -> list[EventEnvelope]:
    return [e for e in envelopes(records) if e.event_type == "DeadlineCountsChanged"]


async def test_deadline_counts_are_announced_once_per_batch_and_trust(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(kafka, kafka.topics.all())
    a1, a2, b1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    batch = [
        logged(scheduled(Window.NOTIFICATION, 3), a1, "RXX", 1, 1),
        logged(scheduled(Window.INVESTIGATION_REPORT, 84), a1, "RXX", 2, 2),
        logged(scheduled(Window.NOTIFICATION, 2), b1, "RYY", 1, 3),
        logged(scheduled(Window.NOTIFICATION, 2), a2, "RXX", 1, 4),
        logged(
            DeadlineMet(
                window=Window.NOTIFICATION, due_at=NOW + dt.timedelta(days=2), met_at=NOW, late=False
            ),
            a2,
            "RXX",
            2,
            5,
        ),
        logged(scheduled(Window.INVESTIGATION_REPORT, 6), b1, "RYY", 2, 6),
    ]
    # on the topic before the consumer starts, so its first fetch takes the whole batch
    await produce(kafka.bootstrap_servers, kafka.topics.deadlines, [(KEY, e.to_json_bytes()) for e in batch])

    async with reporting_service(kafka, await make_database("reporting")):
        records = await read_topic(
            kafka.bootstrap_servers, kafka.topics.dashboard, until=lambda r: len(counts_of(r)) >= 2
        )
        first = {e.payload["trust"]: e for e in counts_of(records)}
        assert sorted(first) == ["RXX", "RYY"] and len(counts_of(records)) == 2

        # the counts as the batch left them, by the dashboard rule
        windows = {
            "RXX": [
                ("open", NOW + dt.timedelta(days=3)),
                ("open", NOW + dt.timedelta(days=84)),
                ("met", NOW),
            ],
            "RYY": [("open", NOW + dt.timedelta(days=2)), ("open", NOW + dt.timedelta(days=6))],
        }
        for trust, rows in windows.items():
            assert first[trust].payload == deadline_counts(trust, rows, NOW).model_dump(mode="json")
        assert first["RXX"].payload == {
            "trust": "RXX",
            "open": 2,
            "missed": 0,
            "met": 1,
            "due_within_7_days": 1,
        }
        assert first["RYY"].payload == {
            "trust": "RYY",
            "open": 2,
            "missed": 0,
            "met": 0,
            "due_within_7_days": 2,
        }
        # caused by the trust's last deadline event in the batch
        assert (first["RXX"].causation_id, first["RXX"].correlation_id) == (batch[4].event_id, "c5")
        assert (first["RYY"].causation_id, first["RYY"].correlation_id) == (batch[5].event_id, "c6")

        # the same batch delivered again, then one event of a third trust to know it was read
        later = logged(scheduled(Window.NOTIFICATION, 1), uuid.uuid4(), "RZZ", 1, 7)
        await produce(
            kafka.bootstrap_servers,
            kafka.topics.deadlines,
            [(KEY, e.to_json_bytes()) for e in [*batch, later]],
        )
        records = await read_topic(
            kafka.bootstrap_servers,
            kafka.topics.dashboard,
            until=lambda r: any(e.payload["trust"] == "RZZ" for e in counts_of(r)),
        )
        assert sorted(e.payload["trust"] for e in counts_of(records)) == ["RXX", "RYY", "RZZ"]
