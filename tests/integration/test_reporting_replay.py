"""A full replay of the log rebuilds reporting's projections exactly as incremental processing left them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from sievert_reporting.projection import HANDLERS, PROJECTION_TABLES
from sievert_reporting.replay import replay
from tests.integration.test_reporting_submissions import (  # noqa: F401 - the fixture is used by name
    COMPLETE_FINDINGS,
    HEADERS,
    Reporting,
    ct_facts,
    reporting,
)
from tests.support.kafka import eventually

pytestmark = pytest.mark.integration


async def snapshot(database_url: str) -> dict[str, list[dict[str, Any]]]:
    conn = await asyncpg.connect(database_url)
    try:
        tables = {}
        for table in PROJECTION_TABLES:
            rows = await conn.fetch(f"SELECT to_jsonb(t) AS row FROM {table} t")
            tables[table] = sorted((r["row"] for r in rows), key=str)
        return tables
    finally:
        await conn.close()


async def test_a_full_replay_gives_exactly_what_incremental_processing_gave(reporting: Reporting) -> None:  # noqa: F811
    client = reporting.client
    first = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    await reporting.incident(ct_facts(dt.date(2025, 5, 20), total_msv=1.5), site="RXX02")
    created = await client.post(
        "/v1/submissions",
        json={"incident_id": str(first), "kind": "notification", "contact_role": "Radiation protection lead"},
        headers=HEADERS,
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    issued = await client.post(f"{location}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS)
    assert issued.status_code == 200, issued.text
    findings = await client.post(f"/v1/incidents/{first}/findings", json=COMPLETE_FINDINGS, headers=HEADERS)
    assert findings.status_code in (200, 201, 202), findings.text

    url = reporting.settings.database_url.get_secret_value()

    async def settled() -> None:
        # every event reporting published has come back through its consumer
        conn = await asyncpg.connect(url)
        try:
            unpublished = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            emitted = await conn.fetch(
                "SELECT event_id FROM outbox WHERE envelope ->> 'event_type' = ANY($1::text[])",
                list(HANDLERS),
            )
            consumed = await conn.fetchval(
                "SELECT count(*) FROM processed_events WHERE event_id = ANY($1::uuid[])",
                [r["event_id"] for r in emitted],
            )
        finally:
            await conn.close()
        assert unpublished == 0 and consumed == len(emitted)

    await eventually(settled)
    incremental = await snapshot(url)
    assert all(incremental[t] for t in ("incidents", "submissions")), incremental

    progress: list[tuple[int, int]] = []
    replayed = await replay(reporting.settings, progress=lambda done, total: progress.append((done, total)))

    assert replayed >= 7
    assert progress[-1][0] == progress[-1][1] == replayed
    assert await snapshot(url) == incremental
