"""Reporting publishes its changes to the dashboard topic so that a dashboard
subscribes and sees submission status, deadline counts and theme updates without polling."""

from __future__ import annotations

import datetime as dt

import pytest
from aiokafka import ConsumerRecord

from sievert_shared.events import DeadlineScheduled, Window
from tests.support.kafka import envelopes, read_topic
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    HEADERS,
    PARTICULARS,
    Reporting,
    ct_facts,
    envelope,
    reporting,
)

pytestmark = pytest.mark.integration


async def test_submission_status_and_deadline_counts_appear_on_the_dashboard_topic(
    reporting: Reporting,  # noqa: F811
) -> None:
    incident = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    created = await reporting.client.post(
        "/v1/submissions",
        json={
            "incident_id": str(incident),
            "kind": "notification",
            "contact_role": "RPA",
            "particulars": PARTICULARS,
        },
        headers=HEADERS,
    )
    assert created.status_code == 201, created.text
    issued = await reporting.client.post(
        f"{created.headers['Location']}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS
    )
    assert issued.status_code == 200, issued.text

    now = reporting.clock.now()
    scheduled = envelope(
        DeadlineScheduled(
            window=Window.NOTIFICATION,
            due_at=now + dt.timedelta(days=3),
            discovered_on=dt.date(2025, 6, 2),
            authority="cqc",
        ),
        incident,
        "RXX01",
        "deadlines",
        now,
        correlation_id="corr-dash",
    )
    kafka = reporting.kafka
    await reporting.publish(kafka.topics.deadlines, [scheduled])

    def seen(records: list[ConsumerRecord[bytes, bytes]]) -> set[str]:
        return {e.event_type for e in envelopes(records)}

    records = await read_topic(
        kafka.bootstrap_servers,
        kafka.topics.dashboard,
        until=lambda r: {"SubmissionStatusChanged", "DeadlineCountsChanged"} <= seen(r),
    )
    dashboard = envelopes(records)
    statuses = [e.payload["status"] for e in dashboard if e.event_type == "SubmissionStatusChanged"]
    assert statuses == ["draft", "submitted"]
    assert all(e.stream_id == incident for e in dashboard if e.event_type == "SubmissionStatusChanged")
    (counts,) = [e.payload for e in dashboard if e.event_type == "DeadlineCountsChanged"]
    assert counts == {"trust": "RXX", "open": 1, "missed": 0, "met": 0, "due_within_7_days": 1}
