"""Reporting over real Kafka and PostgreSQL: a notifiable incident becomes a notification and a
12-week report, sent (the deadlines service hears of it on the submissions topic),
acknowledged, and anonymised in every format."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from sievert_shared.auth import Role
from tests.support.auth import person
from tests.support.kafka import envelopes, read_topic
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    COMPLETE_FINDINGS,
    HEADERS,
    IDENTIFIERS,
    PARTICULARS,
    TRUST,
    Reporting,
    confirm_similar_incidents,
    ct_facts,
    pdf_text,
    reporting,
)
from tests.support.samples import REPORT_FINDINGS_ITEMS

pytestmark = pytest.mark.integration

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


async def test_a_notification_is_drafted_sent_and_acknowledged(reporting: Reporting) -> None:  # noqa: F811
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


async def test_a_report_with_missing_items_is_refused_with_the_list(reporting: Reporting) -> None:  # noqa: F811
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
    assert missing == set(REPORT_FINDINGS_ITEMS) - {"what_happened"}  # recorded above
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


async def test_identifiers_are_refused_and_no_document_in_any_format_carries_one(
    reporting: Reporting,  # noqa: F811
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
        # Ids are taken out first: a UUID's last group is twelve hex digits, about one in a
        # hundred of them all decimal, which reads as a ten-digit number.
        without_ids = _UUID.sub("", text)
        assert not re.search(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)", without_ids), where


def _table_names(content: dict[str, Any]) -> list[str]:
    from sievert_reporting.domain.document_views import view_of

    return [f'"{t.name}"' for t in view_of(content).tables()]
