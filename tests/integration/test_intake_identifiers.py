"""Patient identifiers are split off at the door, read only through one audited endpoint, and
erased by crypto-shredding while the log still replays."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from sievert_classifier.domain import classify
from sievert_reporting.bootstrap import build as build_reporting
from sievert_reporting.entrypoints.replay import replay
from sievert_reporting.settings import ReportingSettings
from sievert_shared.auth import Role
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import REGISTRY, IncidentClassified
from sievert_shared.outbox import build_envelope
from tests.fixtures.intake_support import RunningIntake, intake_requiring_auth
from tests.support.auth import TEST_ISSUER, LocalIssuer, api_key, development_auth, person
from tests.support.infra import Infra
from tests.support.kafka import envelopes, produce, read_topic
from tests.support.samples import NOTIFICATION_PARTICULARS, PATIENT, ct_overexposure, one_individual

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
ENGINE = api_key("engine-a", "RAA", ["RAA01"])
SECRETS = ["9434765919", "MRN-778899", "Zebedee-Quixote", "Ottoline", "1971-03-14", "Larkspur"]


def lead(trust: str = "RAA") -> dict[str, str]:
    return ISSUER.bearer(f"lead@{trust}", trust=trust, roles=[Role.RP_LEAD])


def admin(trust: str = "RAA") -> dict[str, str]:
    return ISSUER.bearer(f"admin@{trust}", trust=trust, roles=[Role.TRUST_ADMIN])


intake = intake_requiring_auth(ISSUER, [ENGINE])


async def _database_dump(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        parts = []
        for table in ("events", "outbox", "idempotency_keys", "incident_patients", "patient_keys"):
            rows = await conn.fetch(f"SELECT * FROM {table}")
            parts.append(repr([dict(r) for r in rows]))
        return "\n".join(parts)
    finally:
        await conn.close()


async def test_identifiers_never_reach_the_log_and_are_read_only_through_the_audited_door(
    intake: RunningIntake, infra: Infra
) -> None:
    c = intake.http
    body = {**ct_overexposure("RAA", "RAA01"), "patient": PATIENT}
    posted = await c.post("/v1/incidents", json=body, headers=ENGINE.header)
    assert posted.status_code == 202, posted.text
    incident, pseudonym = posted.json()["incident_id"], posted.json()["patient_pseudonym"]
    assert pseudonym.startswith("pt-")

    # Not on the topic, not in the event store, the outbox or any stored row in the clear.
    records = await read_topic(
        infra.kafka_bootstrap, intake.settings.kafka.topics.incidents, until=lambda r: len(r) >= 1
    )
    on_the_wire = b"".join(r.value or b"" for r in records).decode()
    stored = await _database_dump(intake.database_url)
    for secret in SECRETS:
        assert secret not in on_the_wire and secret not in stored, secret

    # The same NHS number gives the same pseudonym (a second incident for the same patient).
    again = await c.post(
        "/v1/incidents", json={**ct_overexposure("RAA", "RAA01"), "patient": PATIENT}, headers=ENGINE.header
    )
    assert again.json()["patient_pseudonym"] == pseudonym

    # Only the RP lead of the trust may see them, and every read is audited.
    assert (await c.get(f"/v1/incidents/{incident}/patient", headers=ENGINE.header)).status_code == 403
    assert (await c.get(f"/v1/incidents/{incident}/patient", headers=lead("RBB"))).status_code == 404
    shown = await c.get(
        f"/v1/incidents/{incident}/patient", headers={**lead(), "X-Correlation-ID": "candour-1"}
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["identifiers"]["nhs_number"] == "9434765919"
    assert shown.json()["identifiers"]["family_name"] == "Zebedee-Quixote"
    assert shown.headers["Cache-Control"] == "no-store"
    audit = (await c.get(f"/v1/incidents/{incident}/audit", headers=lead())).json()["entries"]
    assert ("lead@RAA", "identifiers_read", "candour-1") in [
        (e["actor"], e["action"], e["correlation_id"]) for e in audit
    ]


async def test_erasure_shreds_the_key_and_the_log_still_replays(
    intake: RunningIntake, infra: Infra, make_database: Callable[[str], Any]
) -> None:
    c = intake.http
    posted = await c.post(
        "/v1/incidents",
        json={**one_individual(ct_overexposure("RAA", "RAA01")), "patient": PATIENT},
        headers=ENGINE.header,
    )
    incident, pseudonym = posted.json()["incident_id"], posted.json()["patient_pseudonym"]

    assert (await c.delete(f"/v1/patients/{pseudonym}", headers=lead())).status_code == 403
    assert (await c.delete(f"/v1/patients/{pseudonym}", headers=admin("RBB"))).status_code == 404
    erased = await c.delete(f"/v1/patients/{pseudonym}", headers=admin())
    assert erased.status_code == 204, erased.text

    # The identifiers are unrecoverable: the key is gone, the ciphertext alone says nothing.
    gone = await c.get(f"/v1/incidents/{incident}/patient", headers=lead())
    assert gone.status_code == 410
    conn = await asyncpg.connect(intake.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM patient_keys WHERE pseudonym = $1", pseudonym) == 0
        assert (
            await conn.fetchval("SELECT count(*) FROM incident_patients WHERE pseudonym = $1", pseudonym) == 1
        )
        # The log still replays: every stored event decodes, in order.
        rows = await conn.fetch("SELECT envelope FROM events ORDER BY global_position")
        replayed = [REGISTRY.decode(EventEnvelope.model_validate_json(r["envelope"])) for r in rows]
        assert [e.event_type for e in replayed] == ["IncidentReported"]
        # And the access log records the erasure, and refuses to be rewritten.
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM identifier_access")
    finally:
        await conn.close()

    # Everything else still works, with the pseudonym.
    read = await c.get(f"/v1/incidents/{incident}", headers=lead())
    assert read.status_code == 200 and read.json()["patient_pseudonym"] == pseudonym
    amend = {"expected_version": 1, "facts": {"total_effective_dose_msv": 20.0}, "reason": "re-measured"}
    assert (
        await c.post(f"/v1/incidents/{incident}/amendments", json=amend, headers=lead())
    ).status_code == 202
    audit = (await c.get(f"/v1/incidents/{incident}/audit", headers=lead())).json()["entries"]
    assert "patient_erased" in [e["action"] for e in audit]

    # Downstream, from the topics alone: the events still carry the pseudonym, and reporting
    # rebuilds its projections from the log and still builds its documents for the incident.
    topics = intake.settings.kafka.topics
    records = await read_topic(infra.kafka_bootstrap, topics.incidents, until=lambda r: len(r) >= 2)
    published = [REGISTRY.decode(e) for e in envelopes(records)]
    assert [e.patient_pseudonym for e in published] == [pseudonym, pseudonym]  # type: ignore[attr-defined]
    facts = published[-1].facts  # type: ignore[attr-defined]
    classified = build_envelope(  # what the classifier (not running here) publishes for it
        IncidentClassified(decision=classify(facts), discovered_on=facts.discovered_on, facts_version=2),
        stream_id=uuid.UUID(incident),
        stream_version=1,
        tenant=Tenant(trust="RAA", site="RAA01"),
        correlation_id="erasure-replay",
        producer="classifier",
        now=dt.datetime.now(dt.UTC),
    )
    await produce(
        infra.kafka_bootstrap, topics.classifications, [(classified.key, classified.to_json_bytes())]
    )
    settings = ReportingSettings(
        database_url=await make_database("reporting"), kafka=intake.settings.kafka, environment="test"
    )
    assert await replay(settings) >= 3
    runtime, app = build_reporting(settings)
    app.state.authenticator = development_auth(TEST_ISSUER)
    reader = person("RAA", Role.RP_LEAD)
    transport = httpx.ASGITransport(app=app)
    async with runtime.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://rep") as rep:
        row = await rep.get(f"/v1/incidents/{incident}", headers=reader)
        assert row.status_code == 200, row.text
        assert row.json()["decision"]["notifiable"] is True
        created = await rep.post(
            "/v1/submissions",
            json={
                "incident_id": incident,
                "kind": "notification",
                "contact_role": "Radiation protection lead",
                "particulars": NOTIFICATION_PARTICULARS,
            },
            headers=reader,
        )
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        for fmt in ("json", "html", "pdf"):
            document = await rep.get(f"{location}/document.{fmt}", headers=reader)
            assert document.status_code == 200, (fmt, document.text[:300])
            for secret in SECRETS:
                assert secret.encode() not in document.content, (fmt, secret)
