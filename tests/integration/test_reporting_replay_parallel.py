"""A replay by several processes, each replaying its own partitions, rebuilds the same tables,
row by row, as a replay by one process; and a log where one stream's events are on partitions of
different numbers (so two processes would each see part of it) is replayed by one process."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

import sievert_reporting.entrypoints.replay
from sievert_classifier.domain import classify
from sievert_reporting.entrypoints.consumers import processed_key
from sievert_reporting.entrypoints.replay import Replayed, rebuild
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    DeadlineMet,
    DeadlineScheduled,
    Event,
    IncidentClassified,
    IncidentFactsAmended,
    IncidentLinkedToTheme,
    IncidentReclassified,
    IncidentReported,
    ThemeOpened,
    Window,
)
from sievert_shared.kafka import partitions_of
from tests.support.kafka import eventually
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    Reporting,
    assert_consumed_back,
    assert_same_rows,
    ct_facts,
    envelope,
    reporting,
    snapshot,
)

pytestmark = pytest.mark.integration

INCIDENTS = 24


async def everything(url: str) -> dict[str, list[Any]]:
    """The projection's tables, the projection's processed events (without the time they were
    written) and the streams' trusts, each sorted."""
    tables: dict[str, list[Any]] = dict(await snapshot(url))
    conn = await asyncpg.connect(url)
    try:
        processed = await conn.fetch(
            "SELECT consumer, event_id, topic, kafka_partition, kafka_offset FROM processed_events"
            " WHERE consumer = $1",
            processed_key("reporting"),
        )
        tables["processed_events"] = sorted(tuple(row) for row in processed)
        bound = await conn.fetch("SELECT stream_id, trust FROM stream_tenants")
        tables["stream_tenants"] = sorted(tuple(row) for row in bound)
    finally:
        await conn.close()
    return tables


def assert_same(one: dict[str, list[Any]], other: dict[str, list[Any]]) -> None:
    assert_same_rows(one, other)  # the projection's tables, a row at a time
    for table in ("processed_events", "stream_tenants"):
        assert one[table] == other[table], table
    assert one == other


async def test_several_processes_rebuild_the_tables_one_process_rebuilds(
    reporting: Reporting,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka = reporting.kafka
    now = reporting.clock.now()
    logged: dict[str, list[EventEnvelope]] = {
        kafka.topics.incidents: [],
        kafka.topics.classifications: [],
        kafka.topics.deadlines: [],
        kafka.topics.themes: [],
    }
    incidents = [uuid.uuid4() for _ in range(INCIDENTS)]

    def log(topic: str, event: Event, stream: uuid.UUID, producer: str, version: int, site: str) -> None:
        logged[topic].append(envelope(event, stream, site, producer, now, version=version))

    # Round by round, every incident's event of that round: the incidents interleave on each
    # topic and over its partitions, and each incident's events stay in their order.
    for step in range(4):
        for n, incident in enumerate(incidents):
            site = "RXX01" if n % 2 else "RXX02"
            discovered = dt.date(2025, 6, 2) - dt.timedelta(days=n)
            facts = ct_facts(discovered, total_msv=12.0 + n)
            if step == 0:
                log(
                    kafka.topics.incidents,
                    IncidentReported(facts=facts, channel="json"),
                    incident,
                    "intake",
                    1,
                    site,
                )
                log(
                    kafka.topics.classifications,
                    IncidentClassified(decision=classify(facts), discovered_on=discovered, facts_version=1),
                    incident,
                    "classifier",
                    1,
                    site,
                )
                log(
                    kafka.topics.deadlines,
                    DeadlineScheduled(window=Window.NOTIFICATION, due_at=now, discovered_on=discovered),
                    incident,
                    "deadlines",
                    1,
                    site,
                )
            elif step == 1 and n % 3:
                amended = ct_facts(discovered, total_msv=30.0 + n)
                log(
                    kafka.topics.incidents,
                    IncidentFactsAmended(
                        facts=amended,
                        changed_fields=["total_effective_dose_msv"],
                        reason="re-estimated",
                        channel="json",
                    ),
                    incident,
                    "intake",
                    2,
                    site,
                )
                decision = classify(amended)
                log(
                    kafka.topics.classifications,
                    IncidentReclassified(
                        decision=decision,
                        discovered_on=discovered,
                        facts_version=2,
                        previous_notifiable=decision.notifiable,
                        previous_codes=list(decision.codes),
                        previous_discovered_on=discovered,
                        changes=["dose: re-estimated"],
                    ),
                    incident,
                    "classifier",
                    2,
                    site,
                )
            elif step == 2:
                log(
                    kafka.topics.deadlines,
                    DeadlineMet(window=Window.NOTIFICATION, due_at=now, met_at=now, late=False),
                    incident,
                    "deadlines",
                    2,
                    site,
                )
            elif step == 3 and n % 2:
                # a reclassification on older facts arriving last: the guard refuses it
                log(
                    kafka.topics.classifications,
                    IncidentReclassified(
                        decision=classify(facts),
                        discovered_on=discovered,
                        facts_version=1,
                        previous_notifiable=True,
                        previous_codes=[],
                        previous_discovered_on=discovered,
                        changes=["stale"],
                    ),
                    incident,
                    "classifier",
                    3,
                    site,
                )
    # themes: streams of their own, each linking incidents that other processes may replay
    for t in range(4):
        theme = uuid.uuid4()
        opened = ThemeOpened(
            theme_id=theme, title=f"Theme {t}", description="Shared cause.", opened_by_role="RPS"
        )
        log(kafka.topics.themes, opened, theme, "reporting", 1, "RXX01")
        for v, incident in enumerate(incidents[t::4], start=2):
            linked = IncidentLinkedToTheme(
                theme_id=theme, incident_id=incident, site="RXX01", linked_by_role="RPS"
            )
            log(kafka.topics.themes, linked, theme, "reporting", v, "RXX01")
    # a redelivered event (the first copy applies) and another trust's event on a bound stream
    # (skipped): each process keeps both rules for its own streams
    logged[kafka.topics.incidents].append(logged[kafka.topics.incidents][0])
    forged = envelope(
        IncidentFactsAmended(
            facts=ct_facts(dt.date(2025, 6, 2), total_msv=99.0),
            changed_fields=["total_effective_dose_msv"],
            reason="forged",
            channel="json",
        ),
        incidents[1],
        "RYY01",
        "intake",
        now,
        "RYY",
        version=5,
    )
    logged[kafka.topics.incidents].append(forged)
    for topic, envelopes in logged.items():
        await reporting.publish(topic, envelopes)
    every = {e.event_id for envelopes in logged.values() for e in envelopes}

    url = reporting.settings.database_url.get_secret_value()
    await eventually(lambda: assert_consumed_back(url, also=list(every)), timeout=90)
    incremental = await snapshot(url)
    assert len(incremental["incidents"]) == INCIDENTS
    assert len(incremental["theme_incidents"]) == INCIDENTS

    spread = await partitions_of(kafka, list(logged))
    partitions = {tp.partition for tp in spread}
    assert len(partitions) == 3  # the topics Sievert creates: three partitions each

    one = await rebuild(reporting.settings.model_copy(update={"replay_workers": 1}))
    assert (one.workers, one.children) == (1, [])
    sequential = await everything(url)
    assert {table: rows for table, rows in sequential.items() if table in incremental} == incremental

    progress: list[tuple[int, int]] = []
    several: Replayed = await rebuild(
        # a setting that pays for three processes' interpreters
        reporting.settings.model_copy(update={"replay_workers": 3, "replay_memory_mb": 256}),
        progress=lambda done, total: progress.append((done, total)),
    )
    assert several.workers == 3  # one process per partition, none replayed again
    assert len(several.children) == 2 and all(child.cpu_s > 0 for child in several.children)
    assert several.events == one.events == sum(len(e) for e in logged.values())
    assert progress[-1] == (several.events, several.events)
    assert_same(sequential, await everything(url))

    # two processes for three partitions (one replays two of them), two records per fetch, each
    # process writing its fold after every fetch and complete incidents one at a time: the same rows
    monkeypatch.setattr(sievert_reporting.entrypoints.replay, "FETCH_RECORDS", 2)
    two = await rebuild(
        reporting.settings.model_copy(update={"replay_workers": 2}), max_rows=1, early_chunk=1
    )
    assert (two.workers, two.events) == (2, one.events)
    assert_same(sequential, await everything(url))

    # a memory setting too small to pay for a second process's interpreter: one process
    small = await rebuild(reporting.settings.model_copy(update={"replay_workers": 3, "replay_memory_mb": 1}))
    assert (small.workers, small.events) == (1, one.events)
    assert_same(sequential, await everything(url))


async def test_a_stream_on_partitions_of_different_numbers_is_replayed_by_one_process(
    reporting: Reporting,  # noqa: F811
) -> None:
    kafka = reporting.kafka
    now = reporting.clock.now()
    incident = uuid.uuid4()
    facts = ct_facts(dt.date(2025, 6, 2))
    reported = envelope(IncidentReported(facts=facts, channel="json"), incident, "RXX01", "intake", now)
    classified = envelope(
        IncidentClassified(decision=classify(facts), discovered_on=facts.discovered_on, facts_version=1),
        incident,
        "RXX01",
        "classifier",
        now,
    )
    # produced to partitions by number, as a producer keying otherwise than by the stream would:
    # partition 0 and partition 1 go to different processes
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(kafka.topics.incidents, reported.to_json_bytes(), partition=0)
        await producer.send_and_wait(kafka.topics.classifications, classified.to_json_bytes(), partition=1)
    finally:
        await producer.stop()
    url = reporting.settings.database_url.get_secret_value()
    await eventually(
        lambda: assert_consumed_back(url, also=[reported.event_id, classified.event_id]), timeout=60
    )

    one = await rebuild(reporting.settings.model_copy(update={"replay_workers": 1}))
    sequential = await everything(url)
    assert [json.loads(row)["incident_id"] for row in sequential["incidents"]] == [str(incident)]

    again = await rebuild(reporting.settings.model_copy(update={"replay_workers": 2}))
    assert (again.workers, again.events) == (1, one.events)  # two processes tried, one replayed
    assert_same(sequential, await everything(url))


SPREAD = 400


async def test_two_processes_replay_even_shares_of_three_partitions(
    reporting: Reporting,  # noqa: F811
) -> None:
    """Three partitions, two processes: each replays about half of the events (by whole
    partitions alone one replayed two partitions and the other one, two thirds against a third),
    and the tables are the live consumer's and one process's, row by row."""
    kafka = reporting.kafka
    now = reporting.clock.now()
    reported: list[EventEnvelope] = []
    scheduled: list[EventEnvelope] = []
    for n in range(SPREAD):
        incident = uuid.uuid4()
        discovered = dt.date(2025, 6, 2) - dt.timedelta(days=n % 20)
        facts = ct_facts(discovered, total_msv=12.0 + n % 7)
        reported.append(
            envelope(IncidentReported(facts=facts, channel="json"), incident, "RXX01", "intake", now)
        )
        scheduled.append(
            envelope(
                DeadlineScheduled(window=Window.NOTIFICATION, due_at=now, discovered_on=discovered),
                incident,
                "RXX01",
                "deadlines",
                now,
            )
        )
    await reporting.publish(kafka.topics.incidents, reported)
    await reporting.publish(kafka.topics.deadlines, scheduled)
    url = reporting.settings.database_url.get_secret_value()
    await eventually(
        lambda: assert_consumed_back(url, also=[e.event_id for e in reported + scheduled]), timeout=90
    )
    incremental = await snapshot(url)
    assert len(incremental["incidents"]) == SPREAD

    spread = await partitions_of(kafka, [kafka.topics.incidents, kafka.topics.deadlines])
    assert {tp.partition for tp in spread} == {0, 1, 2}

    one = await rebuild(reporting.settings.model_copy(update={"replay_workers": 1}))
    sequential = await everything(url)
    assert {table: rows for table, rows in sequential.items() if table in incremental} == incremental

    two = await rebuild(reporting.settings.model_copy(update={"replay_workers": 2}))
    assert (two.workers, two.events) == (2, one.events) == (2, 2 * SPREAD)
    # about 400 each; two partitions against one would be about 533 against 267
    assert len(two.split) == 2 and sum(two.split) == two.events
    assert all(0.4 * two.events <= events <= 0.6 * two.events for events in two.split), two.split
    assert_same(sequential, await everything(url))
