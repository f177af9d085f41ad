"""Reporting over real Kafka and PostgreSQL: a notifiable incident becomes a notification and a
12-week report, sent (the deadlines service hears of it on the submissions topic),
acknowledged, and anonymised in every format."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sievert_classifier.domain import classify
from sievert_reporting.bootstrap import build
from sievert_reporting.settings import ReportingSettings
from sievert_shared.auth import Role
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event, IncidentClassified, IncidentReported
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings
from tests.support.auth import TEST_ISSUER, development_auth, person, required_auth
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic

pytestmark = pytest.mark.integration

TRUST = "RXX"
HEADERS = person(TRUST, Role.RP_LEAD)


def ct_facts(discovered: dt.date, total_msv: float = 12.0) -> IncidentFacts:
    return IncidentFacts.model_validate(
        {
            "nation": "england",
            "discovered_on": discovered.isoformat(),
            "occurred_on": (discovered - dt.timedelta(days=3)).isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 54,
            "individuals_affected": 1,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": total_msv,
        }
    )


def envelope(event: Event, incident: uuid.UUID, site: str, producer: str, now: dt.datetime) -> EventEnvelope:
    return build_envelope(
        event,
        stream_id=incident,
        stream_version=1,
        tenant=Tenant(trust=TRUST, site=site),
        correlation_id="corr-rep",
        producer=producer,
        now=now,
    )


@dataclass
class Reporting:
    client: httpx.AsyncClient
    kafka: KafkaSettings
    clock: FakeClock
    settings: ReportingSettings
    app: FastAPI | None = None

    @contextlib.contextmanager
    def required(self) -> Iterator[None]:
        """Authentication required for the block, as in production."""
        assert self.app is not None
        before = self.app.state.authenticator
        self.app.state.authenticator = required_auth(TEST_ISSUER)
        try:
            yield
        finally:
            self.app.state.authenticator = before

    async def incident(self, facts: IncidentFacts, site: str = "RXX01") -> uuid.UUID:
        incident = uuid.uuid4()
        now = self.clock.now()
        topics = self.kafka.topics
        reported = IncidentReported(facts=facts, channel="json")
        classified = IncidentClassified(
            decision=classify(facts), discovered_on=facts.discovered_on, facts_version=1
        )
        await produce(
            self.kafka.bootstrap_servers,
            topics.incidents,
            [(incident.bytes, envelope(reported, incident, site, "intake", now).to_json_bytes())],
        )
        await produce(
            self.kafka.bootstrap_servers,
            topics.classifications,
            [(incident.bytes, envelope(classified, incident, site, "classifier", now).to_json_bytes())],
        )

        async def projected() -> None:
            r = await self.client.get(f"/v1/incidents/{incident}")
            # facts and decision come on two topics, in either order: wait for both
            assert r.status_code == 200 and r.json()["decision"] is not None and r.json()["facts"] is not None

        await eventually(projected)
        return incident


@pytest.fixture
async def reporting(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Reporting]:
    clock = FakeClock(dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC))
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    settings = ReportingSettings(
        database_url=await make_database("reporting"), kafka=kafka, environment="test"
    )
    runtime, app = build(settings, clock)
    transport = httpx.ASGITransport(app=app)
    # Development mode, as on a developer's machine, that also verifies the tests' credentials:
    # the routes act for the credentials' trust and role (test_tenancy_matrix runs them required).
    app.state.authenticator = development_auth(TEST_ISSUER)
    async with runtime.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://rep") as client:
        yield Reporting(client, kafka, clock, settings, app)


COMPLETE_FINDINGS: dict[str, Any] = {
    "recorded_by_role": "Radiation protection lead",
    "what_happened": "A CT head protocol was selected for a CT abdomen request; the operator did not check it.",
    "dose_assessment": "The medical physics expert estimated 12 mSv received against 1 mSv intended.",
    "root_causes": ["Protocol names on the scanner console were ambiguous"],
    "contributory_factors": ["Busy list with a late change of scanner"],
    "duty_of_candour_met": True,
    "duty_of_candour_notes": "The patient was told by the reporting radiologist within 10 working days.",
    "csaue_procedure_applied": True,
    "learning": "Protocol names must say the body part first.",
    "learning_shared_how": "Radiation safety committee and the regional CT users group.",
    "corrective_actions": ["Renamed every protocol on both scanners", "Added a protocol check to the pause"],
    "error_duty_holder": "operator",
    "error_process_step": "exposure_or_delivery",
}

#: What a notification adds to the facts (line 218): the preliminary investigation and what was done.
PARTICULARS: dict[str, Any] = {
    "preliminary_investigation": "The CT head protocol was selected for a CT abdomen request.",
    "immediate_actions": ["Protocol list reviewed on both scanners"],
}

IDENTIFIERS = {
    "nhs_number": "943 476 5919",
    "date_of_birth": "12/03/1961",
    "hospital_number": "RXH1234567",
    "name": "Mrs Smith",
    "address": "14 Acacia Avenue, LS1 4AB",
}


async def test_a_notification_is_drafted_sent_and_acknowledged(reporting: Reporting) -> None:
    incident = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    client = reporting.client

    created = await client.post(
        "/v1/submissions",
        json={
            "incident_id": str(incident),
            "kind": "notification",
            "contact_role": "Radiation protection lead",
            "summary": "Wrong CT protocol selected.",
            "particulars": PARTICULARS,
        },
        headers=HEADERS,
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert created.json()["status"] == "draft"
    again = await client.post(
        "/v1/submissions",
        json={"incident_id": str(incident), "kind": "notification", "contact_role": "RPA"},
        headers=HEADERS,
    )
    assert again.status_code == 409 and again.headers["Location"] == location

    # Authentication required: no credentials is 401; another trust's RP lead finds nothing,
    # and may not change it; an auditor reads but does not act; an engine has no business here.
    with reporting.required():
        assert (await client.get(location)).status_code == 401
        other_lead = person("RYY", Role.RP_LEAD)
        assert (await client.get(location, headers=other_lead)).status_code == 404
        assert (await client.get(f"{location}/document.json", headers=other_lead)).status_code == 404
        refused = await client.patch(location, json={"summary": "theirs"}, headers=other_lead)
        assert refused.status_code == 404
        listed = await client.get("/v1/submissions", headers=other_lead)
        assert listed.status_code == 200 and listed.json()["items"] == []
        auditor = person(TRUST, Role.AUDITOR)
        assert (await client.get(location, headers=auditor)).status_code == 200
        assert (await client.patch(location, json={"summary": "x"}, headers=auditor)).status_code == 403
        assert (await client.get(location, headers=person(TRUST, Role.INTEGRATION))).status_code == 403
        assert (await client.get(location, headers=HEADERS)).json()[
            "summary"
        ] == "Wrong CT protocol selected."

    doc = (await client.get(f"{location}/document.json", headers=HEADERS)).json()
    assert doc["authority"]["code"] == "cqc"
    assert doc["organisation"] == {
        "trust": TRUST,
        "site": "RXX01",
        "nation": {"value": "england", "label": "England"},
    }
    assert doc["incident"]["notification_codes"][0]["category"] == "2.2"
    rows = {r["item"]: r["value"] for r in doc["details"]["rows"]}
    assert rows["Multiplication factor (received/intended)"] == 12.0  # CQC table, code 2.2: 10x or more

    issued = await client.post(
        f"{location}/issue", json={"submitted_by_role": "Radiation protection lead"}, headers=HEADERS
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["status"] == "submitted"
    assert (await client.patch(location, json={"summary": "late"}, headers=HEADERS)).status_code == 409

    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.submissions,
        until=lambda r: any(e.event_type == "NotificationSubmitted" for e in envelopes(r)),
    )
    kinds = [e.event_type for e in envelopes(records) if e.stream_id == incident]
    assert kinds == ["SubmissionDrafted", "SubmissionIssued", "NotificationSubmitted"]
    submitted = next(e for e in envelopes(records) if e.event_type == "NotificationSubmitted")
    assert submitted.producer == "reporting" and submitted.payload["authority"] == "cqc"
    # The actor is the caller's subject, from the credentials.
    assert {e.actor for e in envelopes(records) if e.stream_id == incident} == {f"rp_lead@{TRUST}"}

    acked = await client.post(
        f"{location}/acknowledgement", json={"reference": "IRMER/2025/00123"}, headers=HEADERS
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["reference"] == "IRMER/2025/00123"
    listed = (await client.get("/v1/submissions", params={"status": "acknowledged"}, headers=HEADERS)).json()
    assert [i["incident_id"] for i in listed["items"]] == [str(incident)]


async def test_a_report_with_missing_items_is_refused_with_the_list(reporting: Reporting) -> None:
    earlier = await reporting.incident(ct_facts(dt.date(2024, 2, 1)), site="RXX02")
    incident = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    client = reporting.client
    created = await client.post(
        "/v1/submissions",
        json={"incident_id": str(incident), "kind": "investigation_report", "contact_role": "RPA"},
        headers=HEADERS,
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    await client.post(
        f"/v1/incidents/{incident}/findings",
        json={"recorded_by_role": "RPA", "what_happened": "Wrong protocol."},
        headers=HEADERS,
    )
    refused = await client.post(f"{location}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    missing = {m["item"] for m in refused.json()["missing"]}
    assert missing == {
        "dose_assessment",
        "root_causes",
        "contributory_factors",
        "similar_incidents_confirmed",
        "duty_of_candour_met",
        "csaue_procedure_applied",
        "learning",
        "learning_shared_how",
        "corrective_actions",
    }
    assert all(m["guidance_lines"] and m["label"] for m in refused.json()["missing"])
    assert "similar_incidents_confirmed (line 234)" in refused.json()["detail"]

    await client.post(f"/v1/incidents/{incident}/findings", json=COMPLETE_FINDINGS, headers=HEADERS)
    await confirm_similar_incidents(client, incident)
    issued = await client.post(f"{location}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS)
    assert issued.status_code == 200, issued.text
    report = (await client.get(f"{location}/document.json", headers=HEADERS)).json()
    assert report["what_happened"] == COMPLETE_FINDINGS["what_happened"]
    assert report["estimated_doses"]["unintended_effective_dose_msv"] == 11.0
    assert [i["reference"] for i in report["similar_incidents"]["items"]] == [str(earlier)[:8]]
    assert report["duty_of_candour"]["answer"] is True
    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.submissions,
        until=lambda r: any(e.event_type == "InvestigationReportSubmitted" for e in envelopes(r)),
    )
    assert any(
        e.stream_id == incident for e in envelopes(records) if e.event_type == "InvestigationReportSubmitted"
    )


async def confirm_similar_incidents(client: httpx.AsyncClient, incident: uuid.UUID) -> dict[str, Any]:
    """A person confirms the similar incidents as proposed (line 234)."""
    proposed = (await client.get(f"/v1/incidents/{incident}/findings", headers=HEADERS)).json()
    confirmed = await client.post(
        f"/v1/incidents/{incident}/similar-incidents/confirm",
        json={"summary": proposed["similar_incidents_proposed"], "confirmed_by_role": "RPA"},
        headers=HEADERS,
    )
    assert confirmed.status_code == 200, confirmed.text
    body: dict[str, Any] = confirmed.json()
    return body


def pdf_text(data: bytes) -> str:
    """The text a reader of the PDF sees: the strings drawn by its (inflated) content streams."""
    parts: list[str] = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            content = stream
        parts.extend(s.decode("latin-1") for s in re.findall(rb"\(((?:\\.|[^\\)])*)\)", content))
    return "\n".join(parts)


async def test_identifiers_are_refused_and_no_document_in_any_format_carries_one(
    reporting: Reporting,
) -> None:
    incident = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    client = reporting.client

    # every free-text channel refuses each kind of identifier, naming the field, storing nothing
    for kind, identifier in IDENTIFIERS.items():
        bad = {
            **COMPLETE_FINDINGS,
            "what_happened": f"The patient ({identifier}) was scanned with the wrong protocol.",
            "corrective_actions": ["Checked identity", f"Called {identifier}"],
        }
        refused = await client.post(f"/v1/incidents/{incident}/findings", json=bad, headers=HEADERS)
        assert refused.status_code == 422, (kind, refused.text)
        paths = {(e["path"], e["type"]) for e in refused.json()["errors"]}
        assert ("body/what_happened", kind) in paths
        assert ("body/corrective_actions/1", kind) in paths
        assert identifier not in refused.text  # the refusal does not echo the identifier
        draft = await client.post(
            "/v1/submissions",
            json={
                "incident_id": str(incident),
                "kind": "notification",
                "contact_role": "RPA",
                "summary": f"About {identifier}",
            },
            headers=HEADERS,
        )
        assert draft.status_code == 422, (kind, draft.text)
    stored = (await client.get(f"/v1/incidents/{incident}/findings", headers=HEADERS)).json()
    assert stored["findings"]["what_happened"] is None

    await client.post(f"/v1/incidents/{incident}/findings", json=COMPLETE_FINDINGS, headers=HEADERS)
    await confirm_similar_incidents(client, incident)
    locations = []
    for kind in ("notification", "investigation_report"):
        created = await client.post(
            "/v1/submissions",
            json={
                "incident_id": str(incident),
                "kind": kind,
                "contact_role": "Radiation protection lead",
                "particulars": PARTICULARS,
            },
            headers=HEADERS,
        )
        assert created.status_code == 201, created.text
        locations.append(created.headers["Location"])

    documents: dict[str, str] = {}
    for location in locations:
        for stage in ("draft", "issued"):
            if stage == "issued":
                r = await client.post(f"{location}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS)
                assert r.status_code == 200, r.text
            for fmt in ("json", "html", "pdf"):
                r = await client.get(f"{location}/document.{fmt}", headers=HEADERS)
                assert r.status_code == 200, r.text
                documents[f"{location}/{stage}.{fmt}"] = pdf_text(r.content) if fmt == "pdf" else r.text
            content = (await client.get(f"{location}/document.json", headers=HEADERS)).json()
            tables = re.findall(r'"(\w+)"', " ".join(_table_names(content)))
            for name in tables:
                r = await client.get(f"{location}/tables/{name}.csv", headers=HEADERS)
                assert r.status_code == 200, (name, r.text)
                documents[f"{location}/{stage}/{name}.csv"] = r.text
    assert any("Protocol names must say the body part first" in text for text in documents.values())
    assert any(k.endswith(".pdf") and "Radiation protection lead" in t for k, t in documents.items())
    for where, text in documents.items():
        for kind, identifier in IDENTIFIERS.items():
            for needle in {identifier, identifier.replace(" ", "")}:
                assert needle not in text, f"{kind} found in {where}"
        assert not re.search(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)", text.replace(str(incident), "")), (
            where
        )


def _table_names(content: dict[str, Any]) -> list[str]:
    from sievert_reporting.domain.document_views import view_of

    return [f'"{t.name}"' for t in view_of(content).tables()]
