"""A replay refuses, before it changes anything, to rebuild from a log whose oldest events the
broker has deleted (a topic's retention ran out, or records were deleted by hand), unless told to
accept the loss; then it rebuilds from what is left and says what was missing."""

from __future__ import annotations

import datetime as dt

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from structlog.testing import capture_logs

from sievert_reporting.entrypoints.replay import HistoryMissingError, replay
from sievert_shared.kafka import log_starts, partitions_of
from tests.support.kafka import read_topic
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    Reporting,
    ct_facts,
    reporting,
    snapshot,
)

pytestmark = pytest.mark.integration


async def test_a_replay_of_a_log_missing_its_first_events_is_refused_unless_accepted(
    reporting: Reporting,  # noqa: F811
) -> None:
    kafka = reporting.kafka
    for day in range(3):
        await reporting.incident(ct_facts(dt.date(2025, 6, 2) - dt.timedelta(days=day)))
    partitions = await partitions_of(kafka, [kafka.topics.incidents])
    assert set((await log_starts(kafka, partitions)).values()) == {0}
    assert await replay(reporting.settings) > 0  # a whole log replays

    # The broker deletes the first event of every partition that has one, as retention would.
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        logged = await read_topic(
            kafka.bootstrap_servers, kafka.topics.incidents, until=lambda r: len(r) >= 3
        )
        held = {TopicPartition(r.topic, r.partition) for r in logged}
        trimmed = {tp: RecordsToDelete(before_offset=1) for tp in held}
        await admin.delete_records(trimmed)
    finally:
        await admin.close()
    before = await snapshot(reporting.settings.database_url.get_secret_value())

    with pytest.raises(HistoryMissingError) as refused:
        await replay(reporting.settings)
    assert refused.value.deleted == {tp: 1 for tp in trimmed}
    assert "--accept-missing-history" in str(refused.value)
    assert await snapshot(reporting.settings.database_url.get_secret_value()) == before  # untouched

    with capture_logs() as logs:
        replayed = await replay(reporting.settings, accept_missing_history=True)
    assert replayed > 0
    missing = [e for e in logs if e["event"] == "replay.history_missing"]
    assert missing and missing[0]["deleted"] == {f"{tp.topic}[{tp.partition}]": 1 for tp in trimmed}
