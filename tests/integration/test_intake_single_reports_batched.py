"""Concurrent single ``POST /v1/incidents`` share commits (group commit): each request still gets
the answer it would get alone, and a request's failure stores none of it and costs no other."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from sievert_intake.adapters.identity_vault import PatientRecord
from sievert_intake.bootstrap import build
from sievert_intake.domain.identity import PatientIdentifiers
from sievert_intake.entrypoints.deps import Components
from sievert_intake.settings import IntakeSettings
from sievert_shared.settings import KafkaSettings
from tests.support.infra import Infra
from tests.support.samples import PATIENT, ct_overexposure

pytestmark = pytest.mark.integration

REPORTS = 12


class Intake:
    def __init__(self, client: httpx.AsyncClient, database_url: str, components: Components) -> None:
        self.client = client
        self.database_url = database_url
        self.components = components

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Intake]:
    url = await make_database("intake")
    settings = IntakeSettings(
        database_url=url,
        kafka=KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix),
        environment="test",
    )
    runtime, app = build(settings)
    async with runtime.lifespan(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            # A first report outside the measured group: the site registry is looked up once.
            assert (await client.post("/v1/incidents", json=ct_overexposure())).status_code == 202
            yield Intake(client, url, app.state.components)


def report(n: int, **extra: Any) -> dict[str, Any]:
    return {**ct_overexposure(), "source_message_id": f"GROUP-{n:03d}", **extra}


async def test_concurrent_reports_batched_each_get_their_own_answer(intake: Intake) -> None:
    correlation = [f"corr-group-{n}" for n in range(REPORTS)]
    answers = await asyncio.gather(
        *(
            intake.client.post(
                "/v1/incidents",
                json=report(n, **({"patient": PATIENT} if n % 3 == 0 else {})),
                headers={"X-Correlation-ID": correlation[n]},
            )
            for n in range(REPORTS)
        )
    )

    assert [a.status_code for a in answers] == [202] * REPORTS, [a.text for a in answers]
    ids = [a.json()["incident_id"] for a in answers]
    assert len(set(ids)) == REPORTS
    rows = await intake.fetch(
        """SELECT e.stream_id::text AS id, e.envelope->>'correlation_id' AS corr,
                  e.envelope #>> '{payload,source_message_id}' AS source,
                  o.event_id IS NOT NULL AS queued, p.incident_id IS NOT NULL AS identified
           FROM events e LEFT JOIN outbox o USING (event_id)
           LEFT JOIN incident_patients p ON p.incident_id = e.stream_id
           WHERE e.stream_id = ANY($1::uuid[])""",
        ids,
    )
    stored = {r["id"]: r for r in rows}
    for n, incident_id in enumerate(ids):  # each answer names the request's own incident
        row = stored[incident_id]
        assert (row["corr"], row["source"], row["queued"]) == (correlation[n], f"GROUP-{n:03d}", True)
        assert row["identified"] == (n % 3 == 0)
        assert ("patient_pseudonym" in answers[n].json()) == (n % 3 == 0)


async def test_batched_reports_keys_conflicts_and_bad_dates_answered_as_if_alone(intake: Intake) -> None:
    key = {"Idempotency-Key": "group-key-1"}
    late = report(90)
    late["facts"]["discovered_on"] = "2999-01-01"
    requests = [
        ("/v1/incidents", report(1), key),
        ("/v1/incidents", report(1), key),  # the same request again: the same answer
        ("/v1/incidents", report(2), key),  # the same key, another body: 409
        ("/v1/incidents", late, {}),  # a discovery in the future: 422
        ("/v1/incidents", report(3), {}),
        ("/v1/incidents", report(3), {}),  # the same source message id: the same incident
    ]
    answers = await asyncio.gather(*(intake.client.post(p, json=b, headers=h) for p, b, h in requests))
    statuses = [a.status_code for a in answers]

    assert statuses[3:] == [422, 202, 202], [a.text for a in answers]
    # Of the two bodies under one key, the one stored first wins; the other gets a 409.
    if statuses[0] == 202:
        assert statuses[:3] == [202, 202, 409]
        assert answers[0].json() == answers[1].json()
    else:
        assert statuses[:3] == [409, 409, 202]
    assert answers[4].json()["incident_id"] == answers[5].json()["incident_id"]
    counts = await intake.fetch(
        "SELECT envelope #>> '{payload,source_message_id}' AS source, count(*) AS n FROM events GROUP BY 1"
    )
    by_source = {r["source"]: r["n"] for r in counts}
    assert by_source.get("GROUP-003") == 1
    assert by_source.get("GROUP-090") is None
    assert by_source.get("GROUP-001", 0) + by_source.get("GROUP-002", 0) == 1


async def test_a_batched_report_that_fails_stores_nothing_and_costs_no_other(intake: Intake) -> None:
    """A failure inside PostgreSQL for one report's row (a trigger) fails the shared statement:
    the group is rolled back and each report stored alone, so only that one fails, whole."""
    conn = await asyncpg.connect(intake.database_url)
    try:
        await conn.execute(
            """CREATE FUNCTION poisoned() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                 IF NEW.envelope #>> '{payload,source_message_id}' = 'GROUP-POISON' THEN
                   RAISE EXCEPTION 'injected failure'; END IF;
                 RETURN NEW; END $$;
               CREATE TRIGGER poisoned BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION poisoned();"""
        )
    finally:
        await conn.close()
    bodies = [report(n, patient=PATIENT) for n in range(REPORTS)]
    bodies[REPORTS // 2] = {**ct_overexposure(), "source_message_id": "GROUP-POISON", "patient": PATIENT}
    with capture_logs() as logs:
        answers = await asyncio.gather(*(intake.client.post("/v1/incidents", json=b) for b in bodies))

    statuses = [a.status_code for a in answers]
    assert statuses == [202] * (REPORTS // 2) + [500] + [202] * (REPORTS - REPORTS // 2 - 1)
    stored = await intake.fetch(
        """SELECT e.envelope #>> '{payload,source_message_id}' AS source FROM events e
           JOIN outbox USING (event_id) JOIN incident_patients p ON p.incident_id = e.stream_id"""
    )
    assert sorted(r["source"] for r in stored) == sorted(f"GROUP-{n:03d}" for n in range(REPORTS) if n != 6)
    # The poisoned report was stored with others, so the shared commit was what failed first.
    failed = [e for e in logs if e["event"] == "intake.report_group_failed"]
    assert failed and max(e["reports"] for e in failed) > 1
    recorded = [e for e in logs if e["event"] == "intake.event_recorded"]
    assert len(recorded) == REPORTS - 1


async def test_batched_reports_each_log_with_their_own_correlation_id(intake: Intake) -> None:
    ids = [str(uuid.uuid4()) for _ in range(6)]
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        answers = await asyncio.gather(
            *(
                intake.client.post("/v1/incidents", json=report(100 + n), headers={"X-Correlation-ID": c})
                for n, c in enumerate(ids)
            )
        )
    by_incident = {a.json()["incident_id"]: c for a, c in zip(answers, ids, strict=True)}
    recorded = [e for e in logs if e["event"] == "intake.event_recorded"]
    assert len(recorded) == len(ids)
    for event in recorded:
        assert event["channel"] == "json"
        assert by_incident[event["incident_id"]] == event.get("correlation_id")


async def test_a_data_key_made_by_a_concurrent_transaction_is_read_on_the_second_pass(
    intake: Intake,
) -> None:
    """Two transactions store the same new patient at once: the second waits on the first's key,
    which its one statement's snapshot cannot see, and reads it on its second pass; both
    incidents' identifiers decrypt under that one key."""
    vault = intake.components.vault
    identifiers = PatientIdentifiers(nhs_number="9434765919", family_name="Concurrent")
    name = vault.pseudonym("RXX", identifiers)
    incidents = [uuid.uuid4(), uuid.uuid4()]
    first = await asyncpg.connect(intake.database_url)
    second = await asyncpg.connect(intake.database_url)
    try:
        one, other = first.transaction(), second.transaction()
        await one.start()
        await other.start()
        await vault.store(first, [PatientRecord("RXX", incidents[0], name, identifiers)])
        waiting = asyncio.create_task(
            vault.store(second, [PatientRecord("RXX", incidents[1], name, identifiers)])
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()  # its insert of the same key waits for the first transaction
        await one.commit()
        await asyncio.wait_for(waiting, timeout=30)
        await other.commit()
    finally:
        await first.close()
        await second.close()
    keys = await intake.fetch("SELECT count(*) AS n FROM patient_keys WHERE pseudonym = $1", name)
    assert keys[0]["n"] == 1
    for incident in incidents:
        revealed = await vault.reveal(incident, actor="test", correlation_id="corr-keys")
        assert revealed is not None and revealed.identifiers == identifiers
