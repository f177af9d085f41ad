"""The documents over real Kafka and PostgreSQL: what a draft still lacks, the 409 that names every
missing item by its guidance line, the current decision checked again at issue, the voluntary and
licensing-breach notifications, and the similar incidents a person confirms for the report."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest

from sievert_classifier.domain import classify
from sievert_shared.auth import Role
from sievert_shared.events import IncidentReclassified
from sievert_shared.facts import IncidentFacts
from tests.support.auth import person
from tests.support.kafka import envelopes, eventually, produce, read_topic
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    COMPLETE_FINDINGS,
    HEADERS,
    IDENTIFIERS,
    PARTICULARS,
    Reporting,
    ct_facts,
    envelope,
    pdf_text,
    reporting,
)

pytestmark = pytest.mark.integration


def facts(**values: Any) -> IncidentFacts:
    return IncidentFacts.model_validate({"nation": "england", "discovered_on": "2025-06-02", **values})


NEAR_MISS_RT = facts(
    exposure_kind="near_miss", modality="external_beam_radiotherapy", voluntary=True, individuals_affected=0
)
OUTSIDE_LICENCE = facts(
    exposure_kind="unintended",
    modality="diagnostic_nuclear_medicine",
    outside_arsac_licence=True,
    individuals_affected=1,
    intended_effective_dose_msv=3.0,
    total_effective_dose_msv=3.0,
)
BREACH_PARTICULARS = {
    **PARTICULARS,
    "licence_missing": "practitioner",
    "radioactive_substance": "Tc-99m MAG3",
    "administration_purpose": "Renography, which the practitioner's licence did not list",
    "arsac_notified_on": "2025-06-03",
}


async def draft(rep: Reporting, incident: uuid.UUID, kind: str, **extra: Any) -> Any:
    return await rep.client.post(
        "/v1/submissions",
        json={
            "incident_id": str(incident),
            "kind": kind,
            "contact_role": "Radiation protection lead",
            **extra,
        },
        headers=HEADERS,
    )


async def issue(rep: Reporting, location: str) -> Any:
    return await rep.client.post(f"{location}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS)


async def test_completeness_a_draft_lists_what_is_missing_and_issuing_it_is_409_naming_each_line(
    reporting: Reporting,  # noqa: F811
) -> None:
    incident = await reporting.incident(
        ct_facts(dt.date(2025, 6, 2)).model_copy(update={"individuals_affected": None})
    )
    created = await draft(reporting, incident, "notification")
    assert created.status_code == 201, created.text
    assert {m["item"] for m in created.json()["missing"]} == {
        "individuals_affected",
        "preliminary_investigation",
        "immediate_actions",
    }
    refused = await issue(reporting, created.headers["Location"])
    assert refused.status_code == 409 and refused.headers["content-type"].startswith(
        "application/problem+json"
    )
    body = refused.json()
    assert [m["item"] for m in body["missing"]] == [
        "individuals_affected",
        "preliminary_investigation",
        "immediate_actions",
    ]
    assert body["missing"][1] == {
        "item": "preliminary_investigation",
        "label": "what the immediate preliminary investigation found",
        "guidance_lines": [218],
    }
    for item in ("individuals_affected (lines 207, 232, 276, 279)", "preliminary_investigation (line 218)"):
        assert item in body["detail"]
    # the preview says the same, and nothing was sent
    preview = await reporting.client.get(f"{created.headers['Location']}/document.pdf", headers=HEADERS)
    assert preview.status_code == 409 and preview.json()["missing"] == body["missing"]

    changed = await reporting.client.patch(
        created.headers["Location"], json={"particulars": PARTICULARS}, headers=HEADERS
    )
    assert changed.json()["missing"] == [
        {
            "item": "individuals_affected",
            "label": "the number of individuals exposed",
            "guidance_lines": [207, 232, 276, 279],
        }
    ]
    kept = await reporting.client.patch(
        created.headers["Location"],
        json={"particulars": {"immediate_actions": ["Scanner locked"]}},
        headers=HEADERS,
    )
    assert kept.json()["particulars"]["preliminary_investigation"] == PARTICULARS["preliminary_investigation"]


async def test_completeness_issuing_rechecks_the_decision_and_a_voluntary_notification_remains(
    reporting: Reporting,  # noqa: F811
) -> None:
    notifiable = ct_facts(dt.date(2025, 6, 2))
    incident = await reporting.incident(notifiable)
    created = await draft(reporting, incident, "notification", particulars=PARTICULARS)
    assert created.status_code == 201 and created.json()["missing"] == []

    # amended facts re-decided: no longer notifiable (1.5 mSv against 1 mSv intended)
    below = notifiable.model_copy(update={"total_effective_dose_msv": 1.5})
    decision = classify(below)
    assert not decision.notifiable
    reclassified = IncidentReclassified(
        decision=decision,
        discovered_on=below.discovered_on,
        facts_version=1,
        previous_notifiable=True,
        previous_codes=["2.2"],
        previous_discovered_on=below.discovered_on,
        changes=["codes: [2.2] -> []"],
    )
    changed = envelope(reclassified, incident, "RXX01", "classifier", reporting.clock.now())
    await produce(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.classifications,
        [(changed.key, changed.model_copy(update={"stream_version": 2}).to_json_bytes())],
    )

    async def not_notifiable() -> None:
        row = (await reporting.client.get(f"/v1/incidents/{incident}", headers=HEADERS)).json()
        assert row["decision"]["notifiable"] is False

    await eventually(not_notifiable)
    refused = await issue(reporting, created.headers["Location"])
    assert refused.status_code == 409, refused.text
    assert "not notifiable" in refused.json()["detail"] and "voluntary" in refused.json()["detail"]
    assert refused.json()["decision_status"] == decision.status.value  # undecided: it still needs C
    assert (await reporting.client.get(created.headers["Location"], headers=HEADERS)).json()[
        "status"
    ] == "draft"
    # a voluntary one is still possible: drafted, and it says what it lacks (the V code, line 211)
    voluntary = await draft(reporting, incident, "voluntary_notification", particulars=PARTICULARS)
    assert voluntary.status_code == 201, voluntary.text
    assert "voluntary_code" in {m["item"] for m in voluntary.json()["missing"]}


async def test_voluntary_notification_is_drafted_checked_and_issued_without_a_window(
    reporting: Reporting,  # noqa: F811
) -> None:
    incident = await reporting.incident(NEAR_MISS_RT)
    statutory = await draft(reporting, incident, "notification", particulars=PARTICULARS)
    assert statutory.status_code == 409 and "not notifiable" in statutory.json()["detail"]

    created = await draft(reporting, incident, "voluntary_notification", particulars=PARTICULARS)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert created.json()["missing"] == [
        {
            "item": "voluntary_reason",
            "label": "the significant or unusual circumstances that make the incident worth sharing",
            "guidance_lines": [268, 300],
        }
    ]
    assert (await issue(reporting, location)).status_code == 409
    reason = "A wrong treatment plan was caught at the console before any exposure."
    await reporting.client.patch(
        location, json={"particulars": {"voluntary_reason": reason}}, headers=HEADERS
    )
    issued = await issue(reporting, location)
    assert issued.status_code == 200, issued.text

    doc = (await reporting.client.get(f"{location}/document.json", headers=HEADERS)).json()
    assert doc["document"] == "voluntary_notification" and doc["voluntary_reason"] == reason
    assert doc["incident"]["notification_codes"][0]["code"] == "V8.1"
    text = pdf_text((await reporting.client.get(f"{location}/document.pdf", headers=HEADERS)).content)
    assert "voluntary notification" in text and "Voluntary notification" in text

    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.submissions,
        until=lambda r: any(
            e.event_type == "SubmissionIssued" and e.stream_id == incident for e in envelopes(r)
        ),
    )
    kinds = [e.event_type for e in envelopes(records) if e.stream_id == incident]
    # no NotificationSubmitted: a voluntary notification has no Regulation 8 window to meet
    assert kinds == ["SubmissionDrafted", "SubmissionDrafted", "SubmissionIssued"]


async def test_the_submission_list_carries_what_each_draft_lacks_as_its_own_answer_does(
    reporting: Reporting,  # noqa: F811
) -> None:
    incident = await reporting.incident(NEAR_MISS_RT)
    created = await draft(reporting, incident, "voluntary_notification", particulars=PARTICULARS)
    assert created.status_code == 201, created.text

    async def listed() -> dict[str, Any]:
        answer = await reporting.client.get(
            "/v1/submissions", params={"incident_id": str(incident)}, headers=HEADERS
        )
        assert answer.status_code == 200, answer.text
        [row] = answer.json()["items"]
        return dict(row)

    draft_row = await listed()
    assert draft_row["status"] == "draft"
    assert draft_row["missing"] == created.json()["missing"] != []
    location = created.headers["Location"]
    reason = {"particulars": {"voluntary_reason": "Caught at the console before any exposure."}}
    assert (await reporting.client.patch(location, json=reason, headers=HEADERS)).status_code == 200
    assert (await listed())["missing"] == []
    assert (await issue(reporting, location)).status_code == 200
    assert "missing" not in await listed()  # sent: nothing to complete


async def test_licensing_breach_notification_is_issued_and_anonymised_in_every_format(
    reporting: Reporting,  # noqa: F811
) -> None:
    incident = await reporting.incident(OUTSIDE_LICENCE)
    # identifiers in the particulars are refused, naming the field, and nothing is stored
    for kind, identifier in IDENTIFIERS.items():
        refused = await draft(
            reporting,
            incident,
            "licensing_breach_notification",
            particulars={**BREACH_PARTICULARS, "administration_purpose": f"Renography for {identifier}"},
        )
        assert refused.status_code == 422, (kind, refused.text)
        assert ("body/particulars/administration_purpose", kind) in {
            (e["path"], e["type"]) for e in refused.json()["errors"]
        }
    created = await draft(
        reporting, incident, "licensing_breach_notification", particulars=BREACH_PARTICULARS
    )
    assert created.status_code == 201 and created.json()["missing"] == [], created.text
    location = created.headers["Location"]
    assert (await issue(reporting, location)).status_code == 200

    texts: dict[str, str] = {}
    for fmt in ("json", "html", "pdf"):
        r = await reporting.client.get(f"{location}/document.{fmt}", headers=HEADERS)
        assert r.status_code == 200, r.text
        texts[fmt] = pdf_text(r.content) if fmt == "pdf" else r.text
    content = (await reporting.client.get(f"{location}/document.json", headers=HEADERS)).json()
    assert content["breach"]["licence_missing"] == {
        "value": "practitioner",
        "label": "the practitioner's licence",
    }
    for name in re.findall(r'"name": "(\w+)"', str([])) or ["details"]:
        r = await reporting.client.get(f"{location}/tables/{name}.csv", headers=HEADERS)
        assert r.status_code == 200, r.text
        texts[name] = r.text
    assert "ARSAC Support Unit notified on" in texts["pdf"] and "Tc-99m MAG3" in texts["html"]
    for where, text in texts.items():
        for kind, identifier in IDENTIFIERS.items():
            assert identifier not in text, f"{kind} in {where}"


async def test_similar_incidents_confirmed_by_a_person_once_and_the_report_uses_the_text(
    reporting: Reporting,  # noqa: F811
) -> None:
    await reporting.incident(ct_facts(dt.date(2024, 2, 1)), site="RXX02")
    incident = await reporting.incident(ct_facts(dt.date(2025, 6, 2)))
    client = reporting.client
    await client.post(f"/v1/incidents/{incident}/findings", json=COMPLETE_FINDINGS, headers=HEADERS)
    report = await draft(reporting, incident, "investigation_report")
    assert [m["item"] for m in report.json()["missing"]] == ["similar_incidents_confirmed"]
    refused = await issue(reporting, report.headers["Location"])
    assert refused.status_code == 409 and "similar_incidents_confirmed (line 234)" in refused.json()["detail"]

    url = f"/v1/incidents/{incident}/similar-incidents/confirm"
    edited = "One similar CT incident at another site in 2024; no trend. Reviewed at the radiation safety committee."
    with reporting.required():
        assert (
            await client.post(
                url, json={"summary": edited, "confirmed_by_role": "RPA"}, headers=person("RYY", Role.RP_LEAD)
            )
        ).status_code == 404
        assert (
            await client.post(
                url, json={"summary": edited, "confirmed_by_role": "RPA"}, headers=person("RXX", Role.AUDITOR)
            )
        ).status_code == 403
    bad = await client.post(
        url, json={"summary": "Seen by Mrs Smith", "confirmed_by_role": "RPA"}, headers=HEADERS
    )
    assert bad.status_code == 422
    first = await client.post(url, json={"summary": edited, "confirmed_by_role": "RPA"}, headers=HEADERS)
    again = await client.post(url, json={"summary": edited, "confirmed_by_role": "RPA"}, headers=HEADERS)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    assert first.json()["confirmation"]["edited"] is True and first.json()["proposed"] != edited

    issued = await issue(reporting, report.headers["Location"])
    assert issued.status_code == 200, issued.text
    doc = (await client.get(f"{report.headers['Location']}/document.json", headers=HEADERS)).json()
    assert doc["similar_incidents"]["confirmation"]["summary"] == edited
    assert len(doc["similar_incidents"]["items"]) == 1
    late = await client.post(url, json={"summary": "changed", "confirmed_by_role": "RPA"}, headers=HEADERS)
    assert late.status_code == 409

    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.cases,
        until=lambda r: any(e.event_type == "SimilarIncidentsConfirmed" for e in envelopes(r)),
    )
    confirmed = [
        e
        for e in envelopes(records)
        if e.stream_id == incident and e.event_type == "SimilarIncidentsConfirmed"
    ]
    assert len(confirmed) == 1 and confirmed[0].payload["summary"] == edited
    assert confirmed[0].producer == "reporting"
