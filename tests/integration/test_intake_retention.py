"""The end of a closed case's retention: deadlines' ``CaseRetentionExpired`` on the cases topic
shreds the patient's identifiers in intake as erasure does, audited with the event's correlation
id, once and only once none of the patient's incidents is still retained; the log still replays
(the same idea as erasure's test in test_intake_identifiers.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from sievert_shared.auth import Role
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import REGISTRY, CaseRetentionExpired
from sievert_shared.outbox import build_envelope
from tests.fixtures.intake_support import RunningIntake, intake_requiring_auth
from tests.support.auth import LocalIssuer, api_key
from tests.support.infra import Infra
from tests.support.kafka import eventually, produce
from tests.support.samples import PATIENT as SAMPLE_PATIENT
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
ENGINE = api_key("engine-r", "RAA", ["RAA01"])
#: the sample patient as this test has always sent them: without an address
PATIENT = {key: value for key, value in SAMPLE_PATIENT.items() if key != "address"}


def lead() -> dict[str, str]:
    return ISSUER.bearer("lead@RAA", trust="RAA", roles=[Role.RP_LEAD])


intake = intake_requiring_auth(ISSUER, [ENGINE])


def expired(incident: str, correlation_id: str) -> EventEnvelope:
    return build_envelope(
        CaseRetentionExpired(closed_on=dt.date(2025, 7, 1), retain_until=dt.date(2055, 7, 1)),
        stream_id=uuid.UUID(incident),
        stream_version=9,
        tenant=Tenant(trust="RAA", site="RAA01"),
        correlation_id=correlation_id,
        producer="deadlines",
        now=dt.datetime.now(dt.UTC),
    )


async def test_retention_expiry_shreds_the_patient_once_no_incident_is_retained(
    intake: RunningIntake, infra: Infra
) -> None:
    c = intake.http
    body = {**ct_overexposure("RAA", "RAA01"), "patient": PATIENT}
    first = (await c.post("/v1/incidents", json=body, headers=ENGINE.header)).json()
    second = (await c.post("/v1/incidents", json=body, headers=ENGINE.header)).json()
    pseudonym = first["patient_pseudonym"]
    assert second["patient_pseudonym"] == pseudonym
    cases = intake.settings.kafka.topics.cases

    # The first case's retention ends (delivered twice: applied once). The patient has another
    # incident still kept: only this incident's identifiers go, the key stays.
    one = expired(first["incident_id"], "retention-1")
    await produce(
        infra.kafka_bootstrap, cases, [(one.key, one.to_json_bytes()), (one.key, one.to_json_bytes())]
    )

    async def first_gone() -> None:
        gone = await c.get(f"/v1/incidents/{first['incident_id']}/patient", headers=lead())
        assert gone.status_code == 410, gone.text

    await eventually(first_gone)
    kept = await c.get(f"/v1/incidents/{second['incident_id']}/patient", headers=lead())
    assert kept.status_code == 200 and kept.json()["identifiers"]["family_name"] == "Zebedee-Quixote"

    # The second case's retention ends: nothing of the patient is kept, the key is shredded.
    two = expired(second["incident_id"], "retention-2")
    await produce(infra.kafka_bootstrap, cases, [(two.key, two.to_json_bytes())])

    async def second_gone() -> None:
        gone = await c.get(f"/v1/incidents/{second['incident_id']}/patient", headers=lead())
        assert gone.status_code == 410, gone.text

    await eventually(second_gone)
    conn = await asyncpg.connect(intake.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM patient_keys WHERE pseudonym = $1", pseudonym) == 0
        audit = await conn.fetch(
            "SELECT incident_id, action, actor, correlation_id FROM identifier_access WHERE action <> 'identifiers_read'"
        )
        assert sorted(
            (str(r["incident_id"]), r["action"], r["actor"], r["correlation_id"]) for r in audit
        ) == sorted(
            [
                (first["incident_id"], "identifiers_expired", "retention", "retention-1"),
                (second["incident_id"], "patient_erased", "retention", "retention-2"),
            ]
        )
        # The log still replays: every stored event decodes, and carries the pseudonym.
        rows = await conn.fetch("SELECT envelope FROM events ORDER BY global_position")
        replayed = [REGISTRY.decode(EventEnvelope.model_validate_json(r["envelope"])) for r in rows]
        assert [getattr(e, "patient_pseudonym", None) for e in replayed] == [pseudonym, pseudonym]
    finally:
        await conn.close()

    # Everything else still works with the pseudonym.
    read = await c.get(f"/v1/incidents/{first['incident_id']}", headers=lead())
    assert read.status_code == 200 and read.json()["patient_pseudonym"] == pseudonym


async def test_retention_expiry_of_an_incident_without_identifiers_changes_nothing(
    intake: RunningIntake, infra: Infra
) -> None:
    c = intake.http
    posted = (
        await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=ENGINE.header)
    ).json()
    envelope = expired(posted["incident_id"], "retention-none")
    await produce(
        infra.kafka_bootstrap, intake.settings.kafka.topics.cases, [(envelope.key, envelope.to_json_bytes())]
    )

    async def recorded() -> None:
        conn = await asyncpg.connect(intake.database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM retention_expiries") == 1
            assert await conn.fetchval("SELECT count(*) FROM identifier_access") == 0
        finally:
            await conn.close()

    await eventually(recorded)
