"""No patient identifier reaches Kafka: the four services run as processes, incidents carrying
names, NHS numbers, hospital numbers, dates of birth and addresses arrive through JSON, FHIR and
HL7 v2 (with an ADT^A08 update and amendments), the pipeline runs to the reporting read model and
a regulator submission, and then every message on every topic of the test's prefix is read from
the first offset, value, key and headers as raw bytes, and searched for each identifier."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from sievert_shared.kafka import partitions_of
from sievert_shared.settings import KafkaSettings
from tests.e2e.test_pipeline import Stack, databases, stack  # noqa: F401 - fixtures used by name
from tests.fixtures.intake_support import MllpClient, fhir_fixture, hl7_fixture, replace_segment_field
from tests.support.kafka import eventually
from tests.support.samples import NOTIFICATION_PARTICULARS

pytestmark = pytest.mark.e2e

TODAY = dt.datetime.now(dt.UTC).date()
OCCURRED = TODAY - dt.timedelta(days=3)


def _hl7(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


# One patient per way in; every value is unusual enough that a match cannot be a coincidence.
JSON_PATIENT = {
    "nhs_number": "485 777 3456",
    "hospital_number": "RXXH-90817",
    "family_name": "Quillfeather",
    "given_names": "Araminta Jessamy",
    "birth_date": "2016-02-29",  # a child: the age (not the date) goes on, for the child rules
    "address": "17 Wisteria Crescent, Leeds LS9 7QZ",
}
FHIR_PATIENT = {
    "resourceType": "Patient",
    "identifier": [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990548609"},
        {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "value": "RXXF-31415",
        },
    ],
    "name": [{"family": "Brackenbury", "given": ["Peregrine"]}],
    "birthDate": "1953-08-07",
    "address": [{"line": ["4 Juniper Wynd"], "city": "Harrogate", "postalCode": "HG3 8XW"}],
}
HL7_PID = "PID|1||9434765919^^^NHS^NH~RXXM-27182^^^RXX^MR||FENWICK-ORMEROD^BARNABY||19480923|M|||9 Tamarisk Lane^^Ripon^^HG4 1QQ"
ADT_PID = "PID|1||9434765919^^^NHS^NH||FENWICK-ORMEROD^BARNABY||19480923|M|||22 Sorrel Mews^^Otley^^LS21 3ZD"

IDENTIFIERS = [
    # JSON
    "4857773456",
    "485 777 3456",
    "RXXH-90817",
    "Quillfeather",
    "Araminta",
    "Jessamy",
    "2016-02-29",
    "20160229",
    "Wisteria",
    "LS9 7QZ",
    # FHIR
    "9990548609",
    "999 054 8609",
    "RXXF-31415",
    "Brackenbury",
    "Peregrine",
    "1953-08-07",
    "19530807",
    "Juniper",
    "HG3 8XW",
    # HL7 (and its ADT update)
    "9434765919",
    "943 476 5919",
    "RXXM-27182",
    "FENWICK",
    "ORMEROD",
    "BARNABY",
    "19480923",
    "1948-09-23",
    "Tamarisk",
    "HG4 1QQ",
    "Sorrel",
    "LS21 3ZD",
]


def _pid(message: bytes, pid: str) -> bytes:
    return b"\r".join(pid.encode() if line.startswith(b"PID|") else line for line in message.split(b"\r"))


def _hl7_report(control_id: str, reference: str) -> bytes:
    message = hl7_fixture("pex_p07_ct_overexposure.hl7")
    message = replace_segment_field(message, "MSH", 9, control_id)
    message = replace_segment_field(message, "PES", 5, f"{reference}^DATIX")
    message = replace_segment_field(message, "PES", 9, _hl7(TODAY))
    message = replace_segment_field(message, "PEO", 3, _hl7(OCCURRED))
    return _pid(message, HL7_PID)


def _hl7_amendment(control_id: str, reference: str) -> bytes:
    message = hl7_fixture("oru_r01_dose_update.hl7")
    message = replace_segment_field(message, "MSH", 9, control_id)
    message = replace_segment_field(message, "OBR", 3, reference)
    return _pid(message, HL7_PID)


def _adt(control_id: str) -> bytes:
    message = replace_segment_field(hl7_fixture("adt_a08_update.hl7"), "MSH", 9, control_id)
    return _pid(message, ADT_PID)


def _fhir_bundle(bundle_id: str, reference: str) -> dict[str, Any]:
    body = copy.deepcopy(fhir_fixture("bundle_ct_overexposure.json"))
    body["identifier"]["value"] = bundle_id
    for entry in body["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "AdverseEvent":
            resource["identifier"]["value"] = reference
            resource["date"] = f"{OCCURRED.isoformat()}T14:20:00+01:00"
            resource["detected"] = f"{TODAY.isoformat()}T10:15:00+01:00"
        if resource["resourceType"] == "Patient":
            entry["resource"] = copy.deepcopy(FHIR_PATIENT)
    return body


def _json_report() -> dict[str, Any]:
    return {
        "trust": "RXX",
        "site": "RXX01",
        "facts": {
            "nation": "england",
            "discovered_on": TODAY.isoformat(),
            "occurred_on": OCCURRED.isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "individuals_affected": 1,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": 12.0,
        },
        "patient": JSON_PATIENT,
    }


async def every_record(bootstrap: str, prefix: str) -> dict[str, list[ConsumerRecord[bytes, bytes]]]:
    """Every record, from the first offset to the end as it stands now, of every topic whose name
    starts with the prefix (whichever topics exist, not a list of the ones we expect)."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if t.startswith(f"{prefix}."))
        partitions = await partitions_of(settings, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        found: dict[str, list[ConsumerRecord[bytes, bytes]]] = {t: [] for t in topics}
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                found[tp.topic].extend(r for r in records if r.offset < end[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await consumer.stop()


def raw_bytes(record: ConsumerRecord[bytes, bytes]) -> bytes:
    headers = b"".join(k.encode() + b"=" + (v or b"") for k, v in record.headers)
    return (record.key or b"") + b"\x00" + (record.value or b"") + b"\x00" + headers


async def test_no_patient_identifier_reaches_any_topic(stack: Stack) -> None:  # noqa: F811
    http = stack.http
    incidents: list[str] = []

    # JSON: a report with a patient (a child), then an amendment
    reported = await http.post(stack.url("intake", "/v1/incidents"), json=_json_report())
    assert reported.status_code == 202, reported.text
    json_incident, pseudonym = reported.json()["incident_id"], reported.json()["patient_pseudonym"]
    incidents.append(json_incident)
    amendment = {"expected_version": 1, "facts": {"total_effective_dose_msv": 14.0}, "reason": "re-estimated"}
    amended = await http.post(
        stack.url("intake", f"/v1/incidents/{json_incident}/amendments"), json=amendment
    )
    assert amended.status_code == 202, amended.text

    # FHIR: a transaction Bundle whose Patient carries every identifier
    reference = f"INC-E2E-{uuid.uuid4().hex[:8]}"
    fhir = await http.post(
        stack.url("intake", "/fhir"), json=_fhir_bundle(f"urn:uuid:{uuid.uuid4()}", reference)
    )
    assert fhir.status_code == 200, fhir.text
    incidents.append(fhir.json()["entry"][0]["response"]["location"].split("/")[1])

    # HL7 v2 over MLLP: a report, an amendment with the PID again, and an ADT^A08 update
    hl7_reference = f"INC-HL7-{uuid.uuid4().hex[:8]}"
    engine = await MllpClient.connect(stack.mllp_port)
    try:
        for message in (
            _hl7_report(f"E2E-{uuid.uuid4().hex[:8]}", hl7_reference),
            _hl7_amendment(f"E2E-{uuid.uuid4().hex[:8]}", hl7_reference),
            _adt(f"E2E-{uuid.uuid4().hex[:8]}"),
        ):
            ack = await engine.request(message)
            assert ack.code == "AA", ack.segments
    finally:
        await engine.close()

    # The vault has what the doors split off (so the identifiers were really sent, and kept).
    shown = await http.get(stack.url("intake", f"/v1/incidents/{json_incident}/patient"))
    assert shown.status_code == 200 and shown.json()["identifiers"]["family_name"] == "Quillfeather"
    facts = (await http.get(stack.url("intake", f"/v1/incidents/{json_incident}"))).json()["facts"]
    assert facts["patient_age_years"] in (9, 10)  # born 29 Feb 2016: the age, never the date

    # The pipeline runs to its end: classified, deadlines open, in the read model; and a
    # regulator notification is issued, so the submission and dashboard topics have messages.
    async def projected() -> None:
        r = await http.get(stack.url("reporting", "/v1/incidents"), params={"trust": "RXX", "limit": 200})
        assert r.status_code == 200, r.text
        rows = {i["incident_id"]: i for i in r.json()["items"]}
        assert set(incidents) <= set(rows) and len(rows) == 3  # JSON, FHIR and HL7 (this stack's own)
        for incident, row in rows.items():
            assert row.get("authority") == "cqc", incident
            assert row["deadlines"].get("notification", {}).get("status") == "open", incident

    await eventually(projected, timeout=90)
    created = await http.post(
        stack.url("reporting", "/v1/submissions"),
        json={
            "incident_id": json_incident,
            "kind": "notification",
            "contact_role": "Radiation protection lead",
            "particulars": NOTIFICATION_PARTICULARS,
        },
    )
    assert created.status_code == 201, created.text
    issued = await http.post(
        stack.url("reporting", f"{created.headers['Location']}/issue"), json={"submitted_by_role": "RPA"}
    )
    assert issued.status_code == 200, issued.text

    async def everything_published() -> dict[str, list[ConsumerRecord[bytes, bytes]]]:
        found = await every_record(stack.bootstrap, stack.prefix)
        for name, least in {
            "incidents": 5,  # 3 reported, 2 amended
            "classifications": 3,
            "deadlines": 6,  # notification and investigation report windows of each
            "submissions": 1,
            "dashboard": 1,
        }.items():
            assert len(found.get(f"{stack.prefix}.{name}.v1", [])) >= least, f"{name}: not all there yet"
        return found

    async def check() -> None:
        await everything_published()

    await eventually(check, timeout=60)
    found = await everything_published()
    everything = [(topic, r) for topic, records in found.items() for r in records]
    assert len(everything) >= 16

    # The search itself works: the pseudonym is on the incidents topic, found the same way.
    on_incidents = b"".join(raw_bytes(r) for r in found[f"{stack.prefix}.incidents.v1"])
    assert pseudonym.encode() in on_incidents

    leaks = [
        (topic, record.offset, identifier)
        for topic, record in everything
        for identifier in IDENTIFIERS
        if identifier.lower().encode() in raw_bytes(record).lower()
    ]
    assert not leaks, leaks
