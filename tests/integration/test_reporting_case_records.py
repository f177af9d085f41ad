"""Reporting's side of the Regulation 8 case lifecycle over real Kafka and PostgreSQL: the local
investigation's record and close-out (guidance lines 223-227), the authority's correspondence and
closure (lines 116-131) with the reference and correspondence in the 12-week report, the cases
topic projected into the incident read model, a replay that rebuilds all of it, and the day a
theme was identified (line 278) carried to the classifier."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from sievert_reporting.entrypoints.replay import replay
from sievert_shared.auth import Role
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    CaseClosed,
    CaseClosureBasis,
    Event,
    NotificationSubmitted,
    NotificationWithdrawalRequested,
    TaskAssigned,
    TaskKind,
    TaskOpened,
)
from tests.support.auth import person
from tests.support.kafka import envelopes, eventually, read_topic
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    COMPLETE_FINDINGS,
    HEADERS,
    THEME,
    Reporting,
    assert_consumed_back,
    assert_same_rows,
    confirm_similar_incidents,
    ct_facts,
    dental,
    dental_at_two_sites,
    envelope,
    link_to_theme,
    reporting,
    snapshot,
)
from tests.support.samples import NOTIFICATION_PARTICULARS

pytestmark = pytest.mark.integration

DISCOVERED = dt.date(2025, 6, 2)  # the fixture's clock reads 2025-06-05
CLOSE = {
    "closed_on": "2025-06-04",
    "findings": "The CT head protocol sat next to the abdomen protocol in an ambiguous list.",
    "closed_by_role": "Radiation protection lead",
    "error_duty_holder": "operator",
    "error_process_step": "exposure_or_delivery",
    "corrective_actions": ["Renamed every protocol on both scanners"],
}


async def outbox_count(rep: Reporting, event_type: str, incident: uuid.UUID) -> int:
    conn = await asyncpg.connect(rep.settings.database_url.get_secret_value())
    try:
        count: int = await conn.fetchval(
            """SELECT count(*) FROM outbox
               WHERE envelope ->> 'event_type' = $1 AND envelope ->> 'stream_id' = $2""",
            event_type,
            str(incident),
        )
        return count
    finally:
        await conn.close()


async def case_of(rep: Reporting, incident: uuid.UUID) -> dict[str, Any]:
    read = await rep.client.get(f"/v1/incidents/{incident}", headers=HEADERS)
    assert read.status_code == 200, read.text
    case: dict[str, Any] = read.json()["case"]
    return case


async def notify(rep: Reporting, incident: uuid.UUID, reference: str | None = "CQC-IR-2025-0101") -> None:
    """Draft and issue the notification; the authority acknowledges it with its reference."""
    client = rep.client
    draft = {
        "incident_id": str(incident),
        "kind": "notification",
        "contact_role": "Radiation protection lead",
        "particulars": NOTIFICATION_PARTICULARS,
    }
    created = await client.post("/v1/submissions", json=draft, headers=HEADERS)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    issued = await client.post(f"{location}/issue", json={"submitted_by_role": "RPA"}, headers=HEADERS)
    assert issued.status_code == 200, issued.text
    if reference is not None:
        acknowledged = await client.post(
            f"{location}/acknowledgement", json={"reference": reference}, headers=HEADERS
        )
        assert acknowledged.status_code == 200, acknowledged.text


def deadlines_envelope(event: Event, incident: uuid.UUID, version: int, now: dt.datetime) -> EventEnvelope:
    return envelope(event, incident, "RXX01", "deadlines", now, version=version, correlation_id="c-dl")


async def test_local_investigation_close_is_recorded_once_and_refuses_what_the_record_cannot_hold(
    reporting: Reporting,  # noqa: F811
) -> None:
    client = reporting.client
    incident = await reporting.incident(ct_facts(DISCOVERED))
    base = f"/v1/incidents/{incident}/local-investigation"

    opened = (await client.get(base, headers=HEADERS)).json()
    assert (opened["status"], opened["version"], opened["owner_role"]) == ("open", 0, None)
    owner = await client.put(
        f"{base}/owner",
        json={"owner_role": "Medical physics expert", "assigned_by_role": "RPL", "expected_version": 0},
        headers=HEADERS,
    )
    assert owner.status_code == 200 and owner.json()["version"] == 1, owner.text

    # 422 naming the field: no findings, a day before discovery, a day beyond tomorrow
    for change, path in [
        ({"findings": ""}, "body/findings"),
        ({"findings": "   "}, "body/findings"),
        ({"closed_on": "2025-06-01"}, "body/closed_on"),
        ({"closed_on": "2025-06-08"}, "body/closed_on"),
    ]:
        refused = await client.post(
            f"{base}/close", json={**CLOSE, **change, "expected_version": 1}, headers=HEADERS
        )
        assert refused.status_code == 422, (change, refused.text)
        assert path in [e["path"] for e in refused.json()["errors"]], refused.json()
    # a patient identifier in free text is refused too, nothing stored
    named = await client.post(
        f"{base}/close",
        json={**CLOSE, "findings": "NHS number 943 476 5919", "expected_version": 1},
        headers=HEADERS,
    )
    assert named.status_code == 422

    # two people closing at once with different findings: one wins, the other gets the version
    first, second = await asyncio.gather(
        client.post(f"{base}/close", json={**CLOSE, "expected_version": 1}, headers=HEADERS),
        client.post(
            f"{base}/close",
            json={**CLOSE, "findings": "Another reading of the same incident.", "expected_version": 1},
            headers=HEADERS,
        ),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
    loser = first if first.status_code == 409 else second
    assert loser.json()["current_version"] == 2
    winner = first if first.status_code == 200 else second

    # repeating the winning close gives the same answer and no second event
    body = winner.request.content
    repeated = await client.post(
        f"{base}/close", content=body, headers={**HEADERS, "content-type": "application/json"}
    )
    assert repeated.status_code == 200 and repeated.json() == winner.json()
    assert await outbox_count(reporting, "LocalInvestigationClosed", incident) == 1

    closed = (await client.get(base, headers=HEADERS)).json()
    assert closed["status"] == "closed" and closed["owner_role"] == "Medical physics expert"
    assert closed["closed_on"] == "2025-06-04" and closed["closed_by_role"] == "Radiation protection lead"
    assert closed["cause"] == {"duty_holder": "operator", "process_step": "exposure_or_delivery"}
    assert [h["event"] for h in closed["history"]] == ["owner_assigned", "closed"]
    assert (await case_of(reporting, incident))["local_investigation"] == "closed"

    reopened = await client.post(
        f"{base}/reopen",
        json={
            "reason": "A similar incident on the other scanner",
            "reopened_by_role": "RPL",
            "expected_version": 2,
        },
        headers=HEADERS,
    )
    assert reopened.status_code == 200 and reopened.json()["status"] == "open", reopened.text
    stale = await client.post(f"{base}/close", json={**CLOSE, "expected_version": 2}, headers=HEADERS)
    assert stale.status_code == 409 and stale.json()["current_version"] == 3

    # the deadlines service hears of it on the cases topic, keyed by the incident, with who and when
    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.cases,
        until=lambda r: any(e.event_type == "LocalInvestigationReopened" for e in envelopes(r)),
    )
    on_topic = [e for e in envelopes(records) if e.stream_id == incident]
    assert [e.event_type for e in on_topic] == [
        "LocalInvestigationOwnerAssigned",
        "LocalInvestigationClosed",
        "LocalInvestigationReopened",
    ]
    assert on_topic[1].payload["closed_by_role"] == "Radiation protection lead"
    assert on_topic[1].payload["closed_on"] == "2025-06-04"

    # another trust's incident answers 404, as if it did not exist
    other = await client.post(
        f"{base}/close", json={**CLOSE, "expected_version": 3}, headers=person("RYY", Role.RP_LEAD)
    )
    assert other.status_code == 404


async def test_authority_closure_and_correspondence_need_a_notification_and_reach_the_report(
    reporting: Reporting,  # noqa: F811
) -> None:
    client = reporting.client
    incident = await reporting.incident(ct_facts(DISCOVERED))
    base = f"/v1/incidents/{incident}/authority"
    query = {
        "received_on": "2025-06-05",
        "summary": "Please send the dose assessment.",
        "recorded_by_role": "RPL",
    }

    # never notified: the authority has no case to write about or close
    assert (await client.post(f"{base}/queries", json=query, headers=HEADERS)).status_code == 409
    closure = {"closed_on": "2025-06-05", "recorded_by_role": "RPL"}
    never = await client.post(f"{base}/closure", json=closure, headers=HEADERS)
    assert never.status_code == 409 and "never notified" in never.json()["detail"]
    assert (await client.get(base, headers=HEADERS)).json()["notified"] is False

    await notify(reporting, incident)
    bad = await client.post(f"{base}/queries", json={**query, "received_on": "2025-06-01"}, headers=HEADERS)
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "body/received_on"
    asked = await client.post(f"{base}/queries", json=query, headers=HEADERS)
    assert asked.status_code == 201, asked.text
    query_id = asked.json()["query_id"]
    again = await client.post(f"{base}/queries", json=query, headers=HEADERS)
    assert again.status_code == 200 and again.json()["query_id"] == query_id
    assert await outbox_count(reporting, "AuthorityQueryReceived", incident) == 1
    assert (await case_of(reporting, incident))["open_queries"] == 1

    answer = {"answered_on": "2025-06-05", "summary": "The MPE estimated 12 mSv.", "answered_by_role": "MPE"}
    answered = await client.post(f"{base}/queries/{query_id}/answer", json=answer, headers=HEADERS)
    assert answered.status_code == 200, answered.text
    assert (
        await client.post(f"{base}/queries/{query_id}/answer", json=answer, headers=HEADERS)
    ).status_code == 200
    other_answer = {**answer, "summary": "Something else."}
    assert (
        await client.post(f"{base}/queries/{query_id}/answer", json=other_answer, headers=HEADERS)
    ).status_code == 409
    assert (
        await client.post(f"{base}/queries/{uuid.uuid4()}/answer", json=answer, headers=HEADERS)
    ).status_code == 404

    view = (await client.get(base, headers=HEADERS)).json()
    assert view["reference"] == "CQC-IR-2025-0101" and view["authority"] == "cqc"
    assert [(q["status"], q["answer"]) for q in view["queries"]] == [
        ("answered", "The MPE estimated 12 mSv.")
    ]
    assert view["open_queries"] == 0 and (await case_of(reporting, incident))["open_queries"] == 0

    # the 12-week report carries the reference and the correspondence
    report = await client.post(
        "/v1/submissions",
        json={"incident_id": str(incident), "kind": "investigation_report", "contact_role": "RPL"},
        headers=HEADERS,
    )
    assert report.status_code == 201, report.text
    findings = await client.post(
        f"/v1/incidents/{incident}/findings", json=COMPLETE_FINDINGS, headers=HEADERS
    )
    assert findings.status_code == 202, findings.text
    await confirm_similar_incidents(client, incident)
    location = report.headers["Location"]
    document = (await client.get(f"{location}/document.json", headers=HEADERS)).json()
    assert document["authority_correspondence"] == {
        "reference": "CQC-IR-2025-0101",
        "queries": [
            {
                "received_on": "2025-06-05",
                "summary": "Please send the dose assessment.",
                "answered_on": "2025-06-05",
                "answer": "The MPE estimated 12 mSv.",
            }
        ],
    }
    html = (await client.get(f"{location}/document.html", headers=HEADERS)).text
    assert "Correspondence with the authority" in html and "CQC-IR-2025-0101" in html
    csv = await client.get(f"{location}/tables/authority_correspondence.csv", headers=HEADERS)
    assert csv.status_code == 200 and "Please send the dose assessment." in csv.text

    # the authority closes the notification (line 129); the same closure again is no second event
    closed = await client.post(f"{base}/closure", json=closure, headers=HEADERS)
    assert closed.status_code == 200, closed.text
    assert closed.json()["closure"] == {
        "closed_on": "2025-06-05",
        "reference": "CQC-IR-2025-0101",
        "recorded_by_role": "RPL",
    }
    assert (await client.post(f"{base}/closure", json=closure, headers=HEADERS)).json() == closed.json()
    assert await outbox_count(reporting, "AuthorityClosedCase", incident) == 1
    conflicting = await client.post(
        f"{base}/closure", json={**closure, "reference": "OTHER-1"}, headers=HEADERS
    )
    assert conflicting.status_code == 409
    assert (await case_of(reporting, incident))["authority_closed_on"] == "2025-06-05"


async def test_authority_closure_takes_the_reference_of_a_notification_sent_outside_sievert(
    reporting: Reporting,  # noqa: F811
) -> None:
    incident = await reporting.incident(ct_facts(DISCOVERED))
    now = reporting.clock.now()
    external = envelope(
        NotificationSubmitted(
            authority="cqc",
            submitted_at=now - dt.timedelta(days=1),
            submitted_by_role="RPL",
            reference="PORTAL-77",
        ),
        incident,
        "RXX01",
        "deadlines",
        now,
        correlation_id="c",
    )
    await reporting.publish(reporting.kafka.topics.submissions, [external])
    base = f"/v1/incidents/{incident}/authority"

    async def notified() -> None:
        view = (await reporting.client.get(base, headers=HEADERS)).json()
        assert view["notified"] is True and view["reference"] == "PORTAL-77"
        assert view["notification"]["channel"] == "external"

    await eventually(notified)
    closed = await reporting.client.post(
        f"{base}/closure", json={"closed_on": "2025-06-05", "recorded_by_role": "RPL"}, headers=HEADERS
    )
    assert closed.status_code == 200 and closed.json()["closure"]["reference"] == "PORTAL-77", closed.text


async def test_correspondence_and_case_events_of_both_producers_show_on_the_incident_and_filter_the_list(
    reporting: Reporting,  # noqa: F811
) -> None:
    client = reporting.client
    withdrawn = await reporting.incident(ct_facts(DISCOVERED))
    closed = await reporting.incident(ct_facts(DISCOVERED - dt.timedelta(days=1)))
    untouched = await reporting.incident(ct_facts(DISCOVERED - dt.timedelta(days=2)))
    now = reporting.clock.now()
    task_id = uuid.uuid4()
    events = [
        deadlines_envelope(
            NotificationWithdrawalRequested(authority="cqc", reason="codes: [2.2] -> []"), withdrawn, 5, now
        ),
        deadlines_envelope(
            TaskOpened(
                task_id=task_id,
                kind=TaskKind.DUTY_OF_CANDOUR,
                reason="Line 85: a notifiable safety incident.",
            ),
            withdrawn,
            6,
            now,
        ),
        deadlines_envelope(
            TaskAssigned(task_id=task_id, owner_role="Ward manager", assigned_by_role="RPL"),
            withdrawn,
            7,
            now,
        ),
        deadlines_envelope(
            CaseClosed(
                closed_on=dt.date(2025, 6, 5),
                basis=CaseClosureBasis.LOCAL_INVESTIGATION_CLOSED,
                retain_until=dt.date(2033, 6, 5),
            ),
            closed,
            4,
            now,
        ),
    ]
    await reporting.publish(reporting.kafka.topics.cases, events)

    async def projected() -> None:
        case = await case_of(reporting, withdrawn)
        assert case["status"] == "withdrawal_requested" and case["open_tasks"] == 1
        assert case["withdrawal"]["reason"] == "codes: [2.2] -> []"
        assert (await case_of(reporting, closed))["closure"] == {
            "basis": "local_investigation_closed",
            "closed_on": "2025-06-05",
            "retain_until": "2033-06-05",
            "retention_expired": False,
        }

    await eventually(projected)
    assert (await case_of(reporting, untouched))["status"] == "open"

    async def listed(status: str) -> set[str]:
        page = await client.get("/v1/incidents", params={"case_status": status}, headers=HEADERS)
        assert page.status_code == 200, page.text
        return {item["incident_id"] for item in page.json()["items"]}

    assert await listed("withdrawal_requested") == {str(withdrawn)}
    assert await listed("closed") == {str(closed)}
    assert str(untouched) in await listed("open") and str(withdrawn) not in await listed("open")
    assert (
        await client.get("/v1/incidents", params={"case_status": "gone"}, headers=HEADERS)
    ).status_code == 422


async def test_local_investigation_close_and_correspondence_replay_to_what_live_processing_gave(
    reporting: Reporting,  # noqa: F811
) -> None:
    client = reporting.client
    incident = await reporting.incident(ct_facts(DISCOVERED))
    await notify(reporting, incident)
    base = f"/v1/incidents/{incident}"
    steps = [
        (f"{base}/local-investigation/owner", {"owner_role": "MPE", "assigned_by_role": "RPL"}),
        (f"{base}/local-investigation/close", {**CLOSE, "expected_version": 1}),
        (
            f"{base}/authority/queries",
            {"received_on": "2025-06-05", "summary": "Dose?", "recorded_by_role": "RPL"},
        ),
        (f"{base}/authority/closure", {"closed_on": "2025-06-05", "recorded_by_role": "RPL"}),
    ]
    for path, body in steps:
        response = await (client.put if path.endswith("owner") else client.post)(
            path, json=body, headers=HEADERS
        )
        assert response.status_code in (200, 201), response.text
    now = reporting.clock.now()
    task_id = uuid.uuid4()
    deadline_events = [
        deadlines_envelope(
            TaskOpened(task_id=task_id, kind=TaskKind.REGULATION_8_1_INFORM, reason="Line 78."),
            incident,
            3,
            now,
        ),
        deadlines_envelope(
            CaseClosed(
                closed_on=dt.date(2025, 6, 5),
                basis=CaseClosureBasis.AUTHORITY_CLOSED,
                retain_until=dt.date(2033, 6, 5),
            ),
            incident,
            4,
            now,
        ),
    ]
    await reporting.publish(reporting.kafka.topics.cases, deadline_events)
    url = reporting.settings.database_url.get_secret_value()

    async def settled() -> None:
        await assert_consumed_back(url, [e.event_id for e in deadline_events])

    await eventually(settled, timeout=60)
    live = await snapshot(url)
    for table in ("local_investigations", "authority_queries", "incident_cases", "case_tasks"):
        assert live[table], table
    case = await case_of(reporting, incident)
    assert (case["status"], case["local_investigation"], case["open_tasks"]) == ("closed", "closed", 1)

    await replay(reporting.settings)
    assert_same_rows(live, await snapshot(url))


async def test_theme_identified_day_is_stated_or_today_and_reaches_the_classifier(
    reporting: Reporting,  # noqa: F811
) -> None:
    client = reporting.client
    lead = person("RXX", Role.RP_LEAD)
    a, b = await dental_at_two_sites(reporting)

    future = await client.post("/v1/themes", json={**THEME, "identified_on": "2025-06-09"}, headers=lead)
    assert future.status_code == 422 and future.json()["errors"][0]["path"] == "body/identified_on"
    by_default = await client.post("/v1/themes", json=THEME, headers=lead)
    assert by_default.status_code == 201 and by_default.json()["identified_on"] == "2025-06-05"
    stated = await client.post("/v1/themes", json={**THEME, "identified_on": "2025-05-25"}, headers=lead)
    assert stated.status_code == 201 and stated.json()["identified_on"] == "2025-05-25", stated.text
    location = stated.headers["Location"]
    await link_to_theme(client, location, (a, b), lead)

    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.themes,
        until=lambda r: len([e for e in envelopes(r) if e.event_type == "ThemeIndividualsCounted"]) >= 2,
    )
    counted = [e for e in envelopes(records) if e.event_type == "ThemeIndividualsCounted"]
    assert {e.stream_id for e in counted} == {a, b}
    assert all(e.schema_version == 2 and e.payload["theme_identified_on"] == "2025-05-25" for e in counted)
