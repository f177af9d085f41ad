"""A full replay of the log rebuilds reporting's projections exactly as incremental processing left them."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

import sievert_reporting.entrypoints.replay
from sievert_reporting.entrypoints.replay import replay
from sievert_shared.events import DeadlineMet, DeadlineScheduled, IncidentFactsAmended, Window
from tests.support.kafka import eventually, produce
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    COMPLETE_FINDINGS,
    HEADERS,
    PARTICULARS,
    Reporting,
    assert_consumed_back,
    assert_same_rows,
    ct_facts,
    envelope,
    reporting,
    snapshot,
)

pytestmark = pytest.mark.integration


async def test_a_full_replay_gives_exactly_what_incremental_processing_gave(
    reporting: Reporting,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = reporting.client
    first = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    await reporting.incident(ct_facts(dt.date(2025, 5, 20), total_msv=1.5), site="RXX02")
    created = await client.post(
        "/v1/submissions",
        json={
            "incident_id": str(first),
            "kind": "notification",
            "contact_role": "Radiation protection lead",
            "particulars": PARTICULARS,
        },
        headers=HEADERS,
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    issued = await client.post(f"{location}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS)
    assert issued.status_code == 200, issued.text
    findings = await client.post(f"/v1/incidents/{first}/findings", json=COMPLETE_FINDINGS, headers=HEADERS)
    assert findings.status_code in (200, 201, 202), findings.text
    # deadline windows (a later version after an earlier one) and amended facts, which a replay
    # folds set-wise with the handlers' guards
    now = reporting.clock.now()
    windows = [
        DeadlineScheduled(window=Window.NOTIFICATION, due_at=now, discovered_on=dt.date(2025, 6, 2)),
        DeadlineMet(window=Window.NOTIFICATION, due_at=now, met_at=now, late=False),
        DeadlineScheduled(window=Window.INVESTIGATION_REPORT, due_at=now, discovered_on=dt.date(2025, 6, 2)),
    ]
    deadline_envelopes = [
        envelope(e, first, "RXX01", "deadlines", now, version=v, correlation_id="c")
        for v, e in enumerate(windows, start=1)
    ]
    amended = envelope(
        IncidentFactsAmended(
            facts=ct_facts(dt.date(2025, 6, 2), total_msv=15.0),
            changed_fields=["total_effective_dose_msv"],
            reason="re-estimated",
            channel="json",
        ),
        first,
        "RXX01",
        "intake",
        now,
        version=2,
        correlation_id="c",
    )
    # An event naming another trust for this incident: the live consumer dead-letters it (the
    # stream is bound to RXX), and the replay must leave it out too.
    forged = envelope(
        IncidentFactsAmended(
            facts=ct_facts(dt.date(2025, 6, 2), total_msv=99.0),
            changed_fields=["total_effective_dose_msv"],
            reason="forged",
            channel="json",
        ),
        first,
        "RYY01",
        "intake",
        now,
        "RYY",
        version=3,
        correlation_id="c",
    )
    kafka = reporting.kafka
    await reporting.publish(kafka.topics.deadlines, deadline_envelopes)
    # keyed as intake's relay keys them (as the fixture keyed the incident's report), so both are on
    # one partition, in order, as the relay would put them (under another key the replay could read the amendment first)
    await produce(
        kafka.bootstrap_servers,
        kafka.topics.incidents,
        [(amended.key, amended.to_json_bytes()), (forged.key, forged.to_json_bytes())],
    )

    async def projected() -> None:
        body = (await client.get(f"/v1/incidents/{first}")).json()
        assert (
            body["deadlines"].get("investigation_report")
            and body["deadlines"]["notification"]["status"] == "met"
        )
        assert body["facts"]["total_effective_dose_msv"] == 15.0
        # the met window keeps the day its scheduling counted from (the trend analysis's timeliness)
        assert body["deadlines"]["notification"]["clock_from"] == "2025-06-02"

    await eventually(projected, timeout=60)

    url = reporting.settings.database_url.get_secret_value()

    async def settled() -> None:
        await assert_consumed_back(url)
        conn = await asyncpg.connect(url)
        try:
            forged_seen = await conn.fetchval(
                "SELECT count(*) FROM processed_events WHERE event_id = $1", forged.event_id
            )
        finally:
            await conn.close()
        assert forged_seen == 1

    await eventually(settled, timeout=60)
    incremental = await snapshot(url)
    assert all(incremental[t] for t in ("incidents", "submissions")), incremental
    assert (await client.get(f"/v1/incidents/{first}")).json()["facts"]["total_effective_dose_msv"] == 15.0

    progress: list[tuple[int, int]] = []
    replayed = await replay(reporting.settings, progress=lambda done, total: progress.append((done, total)))

    assert replayed >= 8
    assert progress[-1][0] == progress[-1][1] == replayed
    rebuilt = await snapshot(url)
    assert_same_rows(incremental, rebuilt)
    assert rebuilt == incremental

    # writing the fold after every fetch merges later events into rows written before
    assert await replay(reporting.settings, max_rows=1) == replayed
    assert await snapshot(url) == incremental

    # the smallest memory setting: a fold written every 128 incidents and 1 MB fetches, slower,
    # never different
    small = reporting.settings.model_copy(update={"replay_memory_mb": 1})
    assert await replay(small) == replayed
    assert await snapshot(url) == incremental

    # and so does writing each incident as soon as it has facts, a decision and a deadline window
    # (one record per fetch: before its later deadline events and its amended facts), in the
    # background while the replay reads on
    monkeypatch.setattr(sievert_reporting.entrypoints.replay, "FETCH_RECORDS", 1)
    assert await replay(reporting.settings, early_chunk=1) == replayed
    assert await snapshot(url) == incremental
