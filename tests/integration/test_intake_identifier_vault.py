"""Patient identifiers commit with their incident's event and outbox row, on every way in (JSON,
FHIR, HL7 v2 one by one and in group commits), so a crash can neither lose nor leak them; events
carry the pseudonym; ADT^A08/A31 demographics update the vault and never reach a topic."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from sievert_shared.auth import Role
from tests.fixtures.intake_support import (
    RunningIntake,
    fhir_fixture,
    hl7_fixture,
    intake_requiring_auth,
    replace_segment_field,
    with_control_id,
)
from tests.support.auth import LocalIssuer, api_key
from tests.support.infra import Infra
from tests.support.kafka import envelopes, read_topic
from tests.support.samples import PATIENT, ct_overexposure

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
ENGINE = api_key("engine-x", "RXX", ["RXX01"])
TABLES = ("events", "outbox", "idempotency_keys", "incident_references", "incident_patients", "patient_keys")


def lead(trust: str = "RXX") -> dict[str, str]:
    return ISSUER.bearer(f"lead@{trust}", trust=trust, roles=[Role.RP_LEAD])


intake = intake_requiring_auth(ISSUER, [ENGINE])


@pytest.fixture
async def lenient(intake: RunningIntake) -> AsyncIterator[httpx.AsyncClient]:
    """A client that gets the 500 answer instead of the app's exception."""
    transport = httpx.ASGITransport(app=intake.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        yield client


async def counts(intake: RunningIntake) -> dict[str, int]:
    conn = await asyncpg.connect(intake.database_url)
    try:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}
    finally:
        await conn.close()


class Failure:
    """A real failure inside PostgreSQL, injected by a trigger on one table: the transaction that
    writes that table fails at that statement, after the ones before it succeeded."""

    def __init__(self, intake: RunningIntake, table: str, when: str = "INSERT") -> None:
        self.url, self.table, self.when = intake.database_url, table, when

    async def __aenter__(self) -> Failure:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(
                f"""CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS
                    $$ BEGIN RAISE EXCEPTION 'injected failure on %', TG_TABLE_NAME; END $$;
                    CREATE TRIGGER injected_failure BEFORE {self.when} ON {self.table}
                    FOR EACH ROW EXECUTE FUNCTION injected_failure();"""
            )
        finally:
            await conn.close()
        return self

    async def __aexit__(self, *_: object) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(
                f"DROP TRIGGER injected_failure ON {self.table}; DROP FUNCTION injected_failure();"
            )
        finally:
            await conn.close()


NOTHING = dict.fromkeys(TABLES, 0)


@pytest.mark.parametrize(
    "table",
    [
        pytest.param("incident_patients", id="identifiers-fail-after-the-event"),
        pytest.param("patient_keys", id="key-fails-after-the-event"),
        pytest.param("outbox", id="outbox-fails-before-the-identifiers"),
    ],
)
async def test_json_a_failure_anywhere_stores_neither_event_nor_identifiers(
    intake: RunningIntake, lenient: httpx.AsyncClient, table: str
) -> None:
    body = {**ct_overexposure(), "patient": PATIENT, "source_message_id": "JSON-ATOMIC-1"}
    async with Failure(intake, table):
        failed = await lenient.post("/v1/incidents", json=body, headers=ENGINE.header)
        assert failed.status_code == 500, failed.text
        assert await counts(intake) == NOTHING

    stored = await intake.http.post("/v1/incidents", json=body, headers=ENGINE.header)
    assert stored.status_code == 202, stored.text
    after = await counts(intake)
    assert (after["events"], after["outbox"], after["incident_patients"], after["patient_keys"]) == (
        1,
        1,
        1,
        1,
    )


async def test_fhir_a_failure_after_the_event_stores_nothing(
    intake: RunningIntake, lenient: httpx.AsyncClient
) -> None:
    body = fhir_fixture("bundle_ct_overexposure.json")
    async with Failure(intake, "incident_patients"):
        failed = await lenient.post("/fhir", json=body, headers=ENGINE.header)
        assert failed.status_code == 500, failed.text
        assert await counts(intake) == NOTHING
    stored = await intake.http.post("/fhir", json=body, headers=ENGINE.header)
    assert stored.status_code == 200, stored.text
    after = await counts(intake)
    assert (after["events"], after["incident_patients"]) == (1, 1)
    shown = await intake.http.get(f"/v1/incidents/{await _only_incident(intake)}/patient", headers=lead())
    assert shown.json()["identifiers"]["nhs_number"] == "9434765919"


async def _only_incident(intake: RunningIntake) -> str:
    conn = await asyncpg.connect(intake.database_url)
    try:
        return str(await conn.fetchval("SELECT DISTINCT stream_id FROM events"))
    finally:
        await conn.close()


async def test_hl7_group_commit_a_failure_after_the_events_stores_none_of_the_group(
    intake: RunningIntake,
) -> None:
    """New incidents from several connections are stored in one group statement; the identifiers
    of the group follow in its transaction: a failure there takes back every event of the group."""
    base = hl7_fixture("pex_p07_ct_overexposure.hl7")
    messages = [
        replace_segment_field(with_control_id(base, f"GRP{i}"), "PES", 5, f"INC-GRP-{i}^DATIX")
        for i in range(6)
    ]
    async with Failure(intake, "incident_patients"):
        engines = [await intake.mllp() for _ in messages]
        try:
            for engine, message in zip(engines, messages, strict=True):
                await engine.send(message)
            acks = [await engine.read_ack() for engine in engines]
        finally:
            for engine in engines:
                await engine.close()
        assert {a.code for a in acks} == {"AR"}  # "send it again"
        assert await counts(intake) == NOTHING

    engine = await intake.mllp()
    try:
        for message in messages:
            await engine.send(message)  # pipelined: one connection, one group or a few
        acks = [await engine.read_ack() for _ in messages]
    finally:
        await engine.close()
    assert {a.code for a in acks} == {"AA"}
    after = await counts(intake)
    assert (after["events"], after["outbox"], after["incident_patients"], after["patient_keys"]) == (
        6,
        6,
        6,
        1,
    )


async def test_hl7_an_amendment_s_identifiers_commit_with_its_event(intake: RunningIntake) -> None:
    """An amendment goes one at a time (``submit``): its PID commits with its event or not at all."""
    engine = await intake.mllp()
    try:
        assert (await engine.request(hl7_fixture("pex_p07_ct_overexposure.hl7"))).code == "AA"
        # ORU^R01 naming the same incident (OBR-3 = PES-5 of the report) with a new PID address
        amendment = replace_segment_field(
            replace_segment_field(hl7_fixture("oru_r01_dose_update.hl7"), "OBR", 3, "INC-2025-0042"),
            "PID",
            11,
            "7 NEW ROAD^^YORK^^YO1 1AA",
        )
        async with Failure(intake, "incident_patients", when="UPDATE"):
            assert (await engine.request(amendment)).code == "AR"
            before = await counts(intake)
            assert (before["events"], before["outbox"]) == (1, 1)
        assert (await engine.request(amendment)).code == "AA"
    finally:
        await engine.close()
    after = await counts(intake)
    assert (after["events"], after["outbox"], after["incident_patients"]) == (2, 2, 1)
    incident = await _only_incident(intake)
    shown = (await intake.http.get(f"/v1/incidents/{incident}/patient", headers=lead())).json()
    assert shown["identifiers"]["address"] == "7 NEW ROAD, YORK, YO1 1AA"


async def test_events_carry_the_pseudonym_and_an_amendment_keeps_it(
    intake: RunningIntake, infra: Infra
) -> None:
    c = intake.http
    posted = await c.post(
        "/v1/incidents", json={**ct_overexposure(), "patient": PATIENT}, headers=ENGINE.header
    )
    incident, pseudonym = posted.json()["incident_id"], posted.json()["patient_pseudonym"]
    amend = {"expected_version": 1, "facts": {"total_effective_dose_msv": 20.0}, "reason": "re-measured"}
    assert (
        await c.post(f"/v1/incidents/{incident}/amendments", json=amend, headers=lead())
    ).status_code == 202
    fhir = copy.deepcopy(fhir_fixture("bundle_ct_overexposure.json"))
    assert (await c.post("/fhir", json=fhir, headers=ENGINE.header)).status_code == 200
    engine = await intake.mllp()
    try:
        hl7 = replace_segment_field(
            with_control_id(hl7_fixture("pex_p07_ct_overexposure.hl7"), "PEX-PSEUDO"),
            "PES",
            5,
            "INC-HL7-9^DATIX",
        )
        assert (await engine.request(hl7)).code == "AA"
    finally:
        await engine.close()

    records = await read_topic(
        infra.kafka_bootstrap, intake.settings.kafka.topics.incidents, until=lambda r: len(r) >= 4
    )
    by_channel = {(e.event_type, e.payload["channel"]): e for e in envelopes(records)}
    # v2 added the pseudonym; v3 (the radiotherapy and equipment facts) and v4 (the employers) kept it
    assert by_channel[("IncidentReported", "json")].schema_version == 4
    assert by_channel[("IncidentReported", "json")].payload["patient_pseudonym"] == pseudonym
    assert by_channel[("IncidentFactsAmended", "json")].payload["patient_pseudonym"] == pseudonym
    # The FHIR and HL7 samples name the same patient (NHS number 9434765919, trust RXX) with other
    # hospital numbers and names: the NHS number decides, so all three share one pseudonym.
    fhir_name = by_channel[("IncidentReported", "fhir")].payload["patient_pseudonym"]
    hl7_name = by_channel[("IncidentReported", "hl7v2")].payload["patient_pseudonym"]
    assert fhir_name == hl7_name == pseudonym


async def test_adt_a08_updates_the_vault_for_that_patient_and_nothing_else(
    intake: RunningIntake, infra: Infra
) -> None:
    engine = await intake.mllp()
    try:
        assert (await engine.request(hl7_fixture("pex_p07_ct_overexposure.hl7"))).code == "AA"
        ack = await engine.request(hl7_fixture("adt_a08_update.hl7"))
        assert ack.code == "AA", ack.segments
        # another patient's ADT: acknowledged, and nothing is kept of them (no incident here)
        other = replace_segment_field(
            with_control_id(hl7_fixture("adt_a08_update.hl7"), "ADT0002"), "PID", 3, "4010232137^^^NHS^NH"
        )
        assert (await engine.request(other)).code == "AA"
    finally:
        await engine.close()
    incident = await _only_incident(intake)
    shown = (await intake.http.get(f"/v1/incidents/{incident}/patient", headers=lead())).json()
    assert shown["identifiers"] == {
        "nhs_number": "9434765919",
        "hospital_number": "M123456",  # not in the ADT: kept
        "family_name": "SMITH",
        "given_names": "JONATHAN",  # updated
        "birth_date": "1970-12-31",
        "address": "2 LOW STREET, LEEDS, LS2 2BB",  # updated
    }
    after = await counts(intake)
    assert (after["events"], after["outbox"], after["incident_patients"], after["patient_keys"]) == (
        1,
        1,
        1,
        1,
    )
    audit = (await intake.http.get(f"/v1/incidents/{incident}/audit", headers=lead())).json()["entries"]
    assert ("identifiers_updated", "hl7:ADT0001") in [(e["action"], e["correlation_id"]) for e in audit]
    records = await read_topic(
        infra.kafka_bootstrap, intake.settings.kafka.topics.incidents, until=lambda r: len(r) >= 1
    )
    assert len(records) == 1  # the report only: the ADT made no event
    for record in records:
        raw = (record.value or b"") + (record.key or b"") + b"".join(v for _, v in record.headers)
        for secret in (b"LOW STREET", b"JONATHAN", b"9434765919", b"4010232137"):
            assert secret not in raw


async def test_an_erased_patient_s_adt_does_not_bring_them_back(intake: RunningIntake) -> None:
    engine = await intake.mllp()
    try:
        assert (await engine.request(hl7_fixture("pex_p07_ct_overexposure.hl7"))).code == "AA"
    finally:
        await engine.close()
    incident = await _only_incident(intake)
    pseudonym = (await intake.http.get(f"/v1/incidents/{incident}", headers=lead())).json()[
        "patient_pseudonym"
    ]
    admin = ISSUER.bearer("admin@RXX", trust="RXX", roles=[Role.TRUST_ADMIN])
    assert (await intake.http.delete(f"/v1/patients/{pseudonym}", headers=admin)).status_code == 204
    engine = await intake.mllp()
    try:
        assert (await engine.request(hl7_fixture("adt_a08_update.hl7"))).code == "AA"
    finally:
        await engine.close()
    assert (await intake.http.get(f"/v1/incidents/{incident}/patient", headers=lead())).status_code == 410
    assert (await counts(intake))["patient_keys"] == 0


async def test_a_birth_date_after_the_exposure_is_refused_at_every_door(intake: RunningIntake) -> None:
    """Born 2025-06-01: after the exposure (30 May) though before the discovery (2 June), so the
    age cannot be reckoned; each door names the birth date, and nothing is stored."""
    body = {**ct_overexposure(), "patient": {**PATIENT, "birth_date": "2025-06-01"}}
    body["facts"] = {k: v for k, v in body["facts"].items() if k != "patient_age_years"}
    posted = await intake.http.post("/v1/incidents", json=body, headers=ENGINE.header)
    assert posted.status_code == 422, posted.text
    assert "patient.birth_date" in posted.text

    fhir = copy.deepcopy(fhir_fixture("bundle_ct_overexposure.json"))
    for entry in fhir["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = "2025-06-01"
    refused = await intake.http.post("/fhir", json=fhir, headers=ENGINE.header)
    assert refused.status_code == 422, refused.text
    assert [i["expression"] for i in refused.json()["issue"]] == [["Patient.birthDate"]]

    engine = await intake.mllp()
    try:
        hl7 = replace_segment_field(hl7_fixture("pex_p07_ct_overexposure.hl7"), "PID", 7, "20250601")
        ack = await engine.request(hl7)
    finally:
        await engine.close()
    assert ack.code == "AE" and ack.error_locations() == ["PID-7"], ack.segments
    assert await counts(intake) == NOTHING
