"""A notification the trust sent outside Sievert (e.g. through the regulator's portal), recorded
through the deadlines service's submissions API, reaches reporting's submissions over real Kafka
and PostgreSQL: it shows as submitted externally, the dashboard hears of it, and reporting will
not draft or issue a second one. Reporting's own ``NotificationSubmitted``, which comes back on
the same topic, is not counted twice."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import httpx
import pytest

from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.settings import DeadlinesSettings
from sievert_reporting.domain.submissions import submission_id_for
from sievert_reporting.entrypoints.consumers import PROJECTION as HANDLERS
from sievert_reporting.entrypoints.consumers import PROJECTION_TABLES
from sievert_reporting.entrypoints.replay import replay
from sievert_shared.db import create_pool, migrate
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import Event, NotificationSubmitted, SubmissionDrafted, SubmissionIssued
from sievert_shared.events.reporting import SubmissionKind
from tests.support.kafka import envelopes, eventually, read_topic
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    HEADERS,
    PARTICULARS,
    Reporting,
    ct_facts,
    envelope,
    reporting,
    snapshot,
)

pytestmark = pytest.mark.integration

PORTAL = {
    "kind": "notification",
    "authority": "CQC",
    "submitted_at": "2025-06-04T15:30:00Z",
    "submitted_by_role": "Radiation protection lead",
    "reference": "IRMER-2025-0042",
}


@pytest.fixture
async def deadlines(
    reporting: Reporting,  # noqa: F811
    make_database: Callable[[str], Any],
) -> AsyncIterator[httpx.AsyncClient]:
    """The deadlines service on the same topics and clock as ``reporting``."""
    settings = DeadlinesSettings(
        database_url=await make_database("deadlines"), kafka=reporting.kafka, environment="test"
    )
    runtime, app, _service = build_deadlines(settings, reporting.clock)
    transport = httpx.ASGITransport(app=app)
    async with runtime.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://dl") as client:
        yield client


async def submissions_of(rep: Reporting, incident: uuid.UUID) -> list[dict[str, Any]]:
    response = await rep.client.get("/v1/submissions", params={"incident_id": str(incident)}, headers=HEADERS)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def recorded_outside(deadlines: httpx.AsyncClient, incident: uuid.UUID, **change: Any) -> None:
    async def has_windows() -> None:
        assert (await deadlines.get(f"/v1/incidents/{incident}/deadlines")).status_code == 200

    await eventually(has_windows)
    response = await deadlines.post(f"/v1/incidents/{incident}/submissions", json={**PORTAL, **change})
    assert response.status_code == 202, response.text


async def test_a_notification_sent_outside_sievert_shows_as_submitted_externally_and_blocks_a_second(
    reporting: Reporting,  # noqa: F811
    deadlines: httpx.AsyncClient,
) -> None:
    incident = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    await recorded_outside(deadlines, incident)

    async def projected() -> None:
        assert [s["status"] for s in await submissions_of(reporting, incident)] == ["submitted"]

    await eventually(projected)
    (item,) = await submissions_of(reporting, incident)
    assert item["channel"] == "external" and item["kind"] == "notification"
    assert item["authority"] == "cqc" and item["reference"] == "IRMER-2025-0042"
    assert item["submitted_by_role"] == "Radiation protection lead"
    assert item["submitted_at"] == "2025-06-04T15:30:00+00:00"
    assert item["contact_role"] is None and item["submission_id"] == str(
        submission_id_for(incident, SubmissionKind.NOTIFICATION)
    )

    second = await reporting.client.post(
        "/v1/submissions",
        json={"incident_id": str(incident), "kind": "notification", "contact_role": "RPA"},
        headers=HEADERS,
    )
    assert second.status_code == 409, second.text
    assert "submitted outside Sievert" in second.json()["detail"]
    assert "IRMER-2025-0042" in second.json()["detail"]
    assert second.headers["Location"] == f"/v1/submissions/{item['submission_id']}"
    # Sievert holds no copy of what was sent, and does not pass today's read model off as it
    document = await reporting.client.get(f"{item['links']['json']}", headers=HEADERS)
    assert document.status_code == 404, document.text
    # the 12-week report is a separate kind: still Sievert's to draft
    report = await reporting.client.post(
        "/v1/submissions",
        json={"incident_id": str(incident), "kind": "investigation_report", "contact_role": "RPA"},
        headers=HEADERS,
    )
    assert report.status_code == 201, report.text

    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.dashboard,
        until=lambda r: any(e.payload.get("channel") == "external" for e in envelopes(r)),
    )
    changes = [
        (e.payload["kind"], e.payload["status"], e.payload["channel"])
        for e in envelopes(records)
        if e.event_type == "SubmissionStatusChanged" and e.stream_id == incident
    ]
    assert ("notification", "submitted", "external") in changes
    assert ("notification", "draft", "sievert") not in changes

    # the deadlines service met the window with the same event
    windows = (await deadlines.get(f"/v1/incidents/{incident}/deadlines")).json()["windows"]
    assert {w["window"]: w["status"] for w in windows}["notification"] == "met"


async def test_a_draft_overtaken_by_a_notification_sent_outside_can_no_longer_be_issued(
    reporting: Reporting,  # noqa: F811
    deadlines: httpx.AsyncClient,
) -> None:
    incident = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    draft = await reporting.client.post(
        "/v1/submissions",
        json={"incident_id": str(incident), "kind": "notification", "contact_role": "RPA", "summary": "CT"},
        headers=HEADERS,
    )
    assert draft.status_code == 201, draft.text
    await recorded_outside(deadlines, incident, reference=None)

    async def overtaken() -> None:
        (item,) = await submissions_of(reporting, incident)
        assert item["status"] == "submitted" and item["channel"] == "external"

    await eventually(overtaken)
    (item,) = await submissions_of(reporting, incident)
    assert item["contact_role"] == "RPA" and item["summary"] == "CT" and item["reference"] is None

    issued = await reporting.client.post(
        f"{draft.headers['Location']}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS
    )
    changed = await reporting.client.patch(
        draft.headers["Location"], json={"summary": "changed"}, headers=HEADERS
    )
    assert issued.status_code == 409 and "submitted outside Sievert" in issued.json()["detail"]
    assert changed.status_code == 409
    # the authority's acknowledgement of the external submission is still recorded
    acknowledged = await reporting.client.post(
        f"{draft.headers['Location']}/acknowledgement", json={"reference": "IRMER-2025-0099"}, headers=HEADERS
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["status"] == "acknowledged"


async def _processed(url: str, event_id: uuid.UUID) -> None:
    conn = await asyncpg.connect(url)
    try:
        seen = await conn.fetchval("SELECT 1 FROM processed_events WHERE event_id = $1", event_id)
    finally:
        await conn.close()
    assert seen, f"{event_id} not processed yet"


async def test_reportings_own_notification_submitted_is_not_counted_twice_and_the_log_replays(
    reporting: Reporting,  # noqa: F811
) -> None:
    incident = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    client = reporting.client
    created = await client.post(
        "/v1/submissions",
        json={
            "incident_id": str(incident),
            "kind": "notification",
            "contact_role": "RPA",
            "particulars": PARTICULARS,
        },
        headers=HEADERS,
    )
    issued = await client.post(
        f"{created.headers['Location']}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS
    )
    assert issued.status_code == 200, issued.text
    before = await submissions_of(reporting, incident)
    url = reporting.settings.database_url.get_secret_value()

    async def published() -> None:
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
        finally:
            await conn.close()

    await eventually(published)
    # A late external record for the same incident, keyed like reporting's own events and produced
    # after them, so once it is processed the copy of reporting's NotificationSubmitted ahead of it
    # in the partition has been consumed too.
    late = envelope(
        NotificationSubmitted(
            authority="cqc",
            submitted_at=reporting.clock.now(),
            submitted_by_role="RPA",
            reference="IRMER-LATE-1",
        ),
        incident,
        "RXX01",
        "deadlines",
        reporting.clock.now(),
        correlation_id="corr-ext",
    )
    await reporting.publish(reporting.kafka.topics.submissions, [late])
    await eventually(lambda: _processed(url, late.event_id))

    after = await submissions_of(reporting, incident)
    assert after == before and after[0]["channel"] == "sievert" and after[0]["reference"] is None
    conn = await asyncpg.connect(url)
    try:
        announced = await conn.fetch(
            """SELECT envelope -> 'payload' ->> 'status' AS status FROM outbox
               WHERE envelope ->> 'event_type' = 'SubmissionStatusChanged'
                 AND (envelope ->> 'stream_id')::uuid = $1""",
            incident,
        )
    finally:
        await conn.close()
    assert sorted(r["status"] for r in announced) == ["draft", "submitted"]

    incremental = await snapshot(url)
    await replay(reporting.settings)
    assert await snapshot(url) == incremental


# -- the race: an external record reporting consumed only after its own draft and issue ----------


def _at(event: Event, incident: uuid.UUID, version: int, producer: str, minute: int) -> EventEnvelope:
    at = dt.datetime(2025, 6, 5, 9, minute, tzinfo=dt.UTC)
    return envelope(event, incident, "RXX01", producer, at, version=version, correlation_id="corr-race")


async def _apply_in_order(url: str, items: Sequence[tuple[EventEnvelope, Event]]) -> dict[str, Any]:
    pool = await create_pool(url, max_size=1)
    try:
        await migrate(pool, "sievert_reporting.migrations")
        async with pool.acquire() as conn, conn.transaction():
            for envelope, event in items:
                await HANDLERS[envelope.event_type](conn, envelope, event)
    finally:
        await pool.close()
    tables = await snapshot(url)
    return {t: tables[t] for t in PROJECTION_TABLES}


@pytest.mark.parametrize("with_issue", [True, False], ids=["drafted-and-issued", "drafted"])
async def test_the_projection_is_the_same_whichever_the_log_has_first(
    make_database: Callable[[str], Any], with_issue: bool
) -> None:
    """Reporting applies its own draft and issue at once, and may consume an external record that
    the log holds *before* them only afterwards; a replay applies them in log order. Both must
    give the same rows (tests/integration/test_reporting_replay.py holds replay to that)."""
    incident = uuid.uuid4()
    submission = submission_id_for(incident, SubmissionKind.NOTIFICATION)
    drafted = SubmissionDrafted(
        submission_id=submission,
        kind=SubmissionKind.NOTIFICATION,
        authority="cqc",
        contact_role="RPA",
        summary="CT",
    )
    issued = SubmissionIssued(
        submission_id=submission,
        kind=SubmissionKind.NOTIFICATION,
        authority="cqc",
        submitted_at=dt.datetime(2025, 6, 5, 9, 3, tzinfo=dt.UTC),
        submitted_by_role="RPA",
        document={"document": "notification"},
        document_sha256="0" * 64,
    )
    external = NotificationSubmitted(
        authority="CQC",
        submitted_at=dt.datetime(2025, 6, 4, 15, 30, tzinfo=dt.UTC),
        submitted_by_role="Radiation protection lead",
        reference="IRMER-2025-0042",
    )
    ours: list[tuple[EventEnvelope, Event]] = [(_at(drafted, incident, 1, "reporting", 2), drafted)]
    if with_issue:
        ours.append((_at(issued, incident, 2, "reporting", 3), issued))
    theirs = (_at(external, incident, 1, "deadlines", 1), external)

    as_applied = await _apply_in_order(await make_database("reporting"), [*ours, theirs])
    as_logged = await _apply_in_order(await make_database("reporting"), [theirs, *ours])

    assert as_applied == as_logged
    (raw,) = as_applied["submissions"]
    row = json.loads(raw)  # to_jsonb, as the replay test snapshots it
    if with_issue:  # Sievert's own issue stands; the external record adds nothing
        assert (row["status"], row["channel"], row["reference"]) == ("submitted", "sievert", None)
    else:  # the draft was overtaken: submitted externally, with the draft's words kept
        assert (row["status"], row["channel"], row["contact_role"]) == ("submitted", "external", "RPA")
