"""The case lifecycle over real Kafka and PostgreSQL: classifications and the case's events are
published to their topics, outcomes read from the deadlines and cases topics and the HTTP API,
with a fake clock moved across weeks (docs/deadlines.md, "The case")."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sievert_classifier.domain import classify
from sievert_deadlines.adapters import queries
from sievert_deadlines.bootstrap import build
from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import (
    AuthorityClosedCase,
    AuthorityQueryReceived,
    Event,
    IncidentClassified,
    IncidentReclassified,
    IncidentReported,
    InvestigationReportSubmitted,
    LocalInvestigationClosed,
    LocalInvestigationReopened,
    NotificationSubmitted,
)
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic

pytestmark = pytest.mark.integration

DISCOVERED = dt.date(2025, 6, 2)
TENANT = Tenant(trust="RXX", site="RXX01")
START = dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC)


def facts(total_msv: float | None, modality: str = "ct") -> IncidentFacts:
    values: dict[str, Any] = {
        "nation": "england",
        "discovered_on": DISCOVERED.isoformat(),
        "exposure_kind": "unintended",
        "modality": modality,
        "patient_age_years": 60,
        "individuals_affected": 1,
        "clinically_significant": False,
        "intended_effective_dose_msv": 1.0,
    }
    if total_msv is not None:
        values["total_effective_dose_msv"] = total_msv
    return IncidentFacts.model_validate(values)


@dataclass
class Case:
    """One incident's stream as the producers of its events would write it."""

    incident: uuid.UUID
    version: int = 0

    def envelope(self, event: Event, now: dt.datetime, producer: str = "reporting") -> EventEnvelope:
        self.version += 1
        return build_envelope(
            event,
            stream_id=self.incident,
            stream_version=self.version,
            tenant=TENANT,
            correlation_id=f"corr-{self.incident}",
            producer=producer,
            now=now,
        )


@dataclass
class Deadlines:
    client: httpx.AsyncClient
    service: DeadlinesService
    clock: FakeClock
    kafka: KafkaSettings
    runtime: ServiceRuntime

    async def publish(self, topic: str, *envs: EventEnvelope) -> None:
        await produce(self.kafka.bootstrap_servers, topic, [(e.key, e.to_json_bytes()) for e in envs])

    async def classified(
        self, case: Case, total_msv: float | None, *, first: bool = True, theme: dt.date | None = None
    ) -> None:
        decision = classify(facts(total_msv))
        event: Event
        if first:
            event = IncidentClassified(
                decision=decision, discovered_on=DISCOVERED, facts_version=1, theme_identified_on=theme
            )
        else:
            event = IncidentReclassified(
                decision=decision,
                discovered_on=DISCOVERED,
                facts_version=2,
                previous_notifiable=not decision.notifiable,
                previous_codes=[],
                previous_discovered_on=DISCOVERED,
                changes=["total_effective_dose_msv"],
                theme_identified_on=theme,
            )
        await self.publish(
            self.kafka.topics.classifications, case.envelope(event, self.clock.now(), "classifier")
        )

    async def events(
        self, topic: str, incident: uuid.UUID, at_least: int = 1, with_type: str | None = None, times: int = 1
    ) -> list[EventEnvelope]:
        def mine(records: list[Any]) -> list[EventEnvelope]:
            # People's tasks share the cases topic and the incident's stream; their own tests
            # follow them, these follow the case's lifecycle.
            return [
                e
                for e in envelopes(records)
                if e.stream_id == incident
                and e.producer == "deadlines"
                and not e.event_type.startswith("Task")
            ]

        def enough(records: list[Any]) -> bool:
            found = mine(records)
            typed = sum(e.event_type == with_type for e in found)
            return len(found) >= at_least and (with_type is None or typed >= times)

        records = await read_topic(self.kafka.bootstrap_servers, topic, until=enough)
        return sorted(mine(records), key=lambda e: e.stream_version)

    async def view(self, incident: uuid.UUID) -> dict[str, Any]:
        response = await self.client.get(f"/v1/incidents/{incident}/deadlines")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        body["by_window"] = {w["window"]: w for w in body["windows"]}
        return body

    async def until(self, incident: uuid.UUID, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def holds() -> None:
            response = await self.client.get(f"/v1/incidents/{incident}/deadlines")
            assert response.status_code == 200
            seen.update(await self.view(incident))
            assert check(seen), seen

        await eventually(holds)
        return seen


@pytest.fixture
async def deadlines(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Deadlines]:
    clock = FakeClock(START)
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    settings = DeadlinesSettings(
        database_url=await make_database("deadlines"), kafka=kafka, environment="test"
    )
    runtime, app, service = build(settings, clock)
    transport = httpx.ASGITransport(app=app)
    async with runtime.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://dl") as client:
        yield Deadlines(client, service, clock, kafka, runtime)


def notification(at: str) -> NotificationSubmitted:
    return NotificationSubmitted(
        authority="cqc", submitted_at=dt.datetime.fromisoformat(at), submitted_by_role="RP lead"
    )


async def test_provisional_notification_runs_from_discovery_and_turns_firm(deadlines: Deadlines) -> None:
    case = Case(uuid.uuid4())
    await deadlines.classified(case, None)  # the dose is not known yet: undecided
    view = await deadlines.until(
        case.incident, lambda v: {"notification", "local_investigation"} <= set(v["by_window"])
    )
    provisional = view["by_window"]["notification"]
    assert provisional["provisional"] is True
    assert "total_effective_dose_msv" in provisional["needs_facts"]
    assert provisional["due_at"] == "2025-06-16T23:00:00+00:00"  # 2 weeks from discovery
    assert view["case"]["decision_status"] == "undecided"
    listed = await deadlines.client.get("/v1/deadlines", params={"status": "provisional"})
    assert [w["incident_id"] for w in listed.json()["items"]] == [str(case.incident)]

    # The reminders say what is missing; the early one fires 2 days after discovery.
    deadlines.clock.set(dt.datetime(2025, 6, 4, 0, 0, tzinfo=dt.UTC))
    await deadlines.service.fire_due()
    events = await deadlines.events(deadlines.kafka.topics.deadlines, case.incident, at_least=3)
    early = [e.payload for e in events if e.event_type == "DeadlineApproaching"]
    assert early and early[0]["early"] is True and early[0]["provisional"] is True
    assert "total_effective_dose_msv" in early[0]["needs_facts"]

    # The physicist's estimate arrives: notifiable, the same due, firm, and the report opens.
    await deadlines.classified(case, 12.0, first=False)
    view = await deadlines.until(case.incident, lambda v: "investigation_report" in v["by_window"])
    firm = view["by_window"]["notification"]
    assert (firm["provisional"], firm["due_at"], firm["status"]) == (False, provisional["due_at"], "open")
    assert view["by_window"]["local_investigation"]["status"] == "cancelled"


async def test_local_investigation_close_meets_the_window_closes_the_case_and_is_idempotent(
    deadlines: Deadlines,
) -> None:
    case = Case(uuid.uuid4())
    reported = case.envelope(
        IncidentReported(facts=facts(1.5, "external_beam_radiotherapy"), channel="json"), START, "intake"
    )
    await deadlines.publish(deadlines.kafka.topics.incidents, reported)
    await deadlines.classified(case, 1.5)
    await deadlines.until(case.incident, lambda v: "local_investigation" in v["by_window"])
    closed = case.envelope(
        LocalInvestigationClosed(
            owner_role="RPA",
            closed_by_role="RP lead",
            closed_on=dt.date(2025, 6, 20),
            findings="wrong protocol",
        ),
        START,
    )
    # Delivered twice (a redelivery): applied once.
    await deadlines.publish(deadlines.kafka.topics.cases, closed, closed)

    view = await deadlines.until(case.incident, lambda v: v["case"]["status"] == "closed")
    local = view["by_window"]["local_investigation"]
    assert (local["status"], local["days_late"], local["met_at"]) == ("met", 0, "2025-06-19T23:00:00+00:00")
    # A radiotherapy case (the modality from intake's facts) is kept 30 years by default.
    assert view["case"]["retain_until"] == "2055-06-20"
    assert view["case"]["basis"] == "local_investigation_closed"
    cases = await deadlines.events(deadlines.kafka.topics.cases, case.incident, at_least=1)
    assert [e.event_type for e in cases] == ["CaseClosed"]

    reopened = case.envelope(
        LocalInvestigationReopened(
            reopened_by_role="RP lead", reopened_on=dt.date(2025, 7, 10), reason="new facts"
        ),
        START,
    )
    deadlines.clock.set(dt.datetime(2025, 7, 10, 9, 0, tzinfo=dt.UTC))  # past the 2 July due
    await deadlines.publish(deadlines.kafka.topics.cases, reopened)
    view = await deadlines.until(case.incident, lambda v: v["case"]["status"] == "open")
    local = view["by_window"]["local_investigation"]
    assert (local["status"], local["overdue"]) == ("open", True)  # missed at once, honestly
    window_events = await deadlines.events(deadlines.kafka.topics.deadlines, case.incident, at_least=4)
    assert [e.event_type for e in window_events][-2:] == ["DeadlineMissed", "DeadlineOverdue"]
    cases = await deadlines.events(deadlines.kafka.topics.cases, case.incident, at_least=2)
    assert [e.event_type for e in cases] == ["CaseClosed", "CaseReopened"]


async def test_the_case_and_its_windows_are_read_from_one_snapshot(
    deadlines: Deadlines, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close-out commits between the read of the windows and the read of the case: the answer
    is the case before it (open, the window open) or after it (closed, the window met), never a
    closed case beside a window still open."""
    case = Case(uuid.uuid4())
    await deadlines.classified(case, 1.5)
    await deadlines.until(case.incident, lambda v: "local_investigation" in v["by_window"])
    closed = LocalInvestigationClosed(
        owner_role="RPA", closed_by_role="RP lead", closed_on=dt.date(2025, 6, 20), findings="done"
    )
    envelope = case.envelope(closed, START)
    read_windows = queries.incident_windows
    committed: list[bool] = []

    async def close_out_after_reading_windows(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        windows = await read_windows(*args, **kwargs)
        if not committed:
            async with deadlines.runtime.pool.acquire() as conn, conn.transaction():
                await deadlines.service.on_local_investigation_closed(conn, envelope, closed)
            committed.append(True)
        return windows

    monkeypatch.setattr(queries, "incident_windows", close_out_after_reading_windows)
    torn = await deadlines.view(case.incident)
    assert committed  # the close-out did commit between the two reads
    local = torn["by_window"]["local_investigation"]
    assert (torn["case"]["status"], local["status"]) == ("open", "open")
    after = await deadlines.view(case.incident)
    local = after["by_window"]["local_investigation"]
    assert (after["case"]["status"], local["status"], local["case_status"]) == ("closed", "met", "closed")


async def _notified_then_downgraded(deadlines: Deadlines) -> Case:
    case = Case(uuid.uuid4())
    await deadlines.classified(case, 12.0)
    await deadlines.until(case.incident, lambda v: "notification" in v["by_window"])
    await deadlines.publish(
        deadlines.kafka.topics.submissions, case.envelope(notification("2025-06-05T10:00:00+00:00"), START)
    )
    await deadlines.until(case.incident, lambda v: v["by_window"]["notification"]["status"] == "met")
    await deadlines.classified(case, 1.5, first=False)
    await deadlines.until(case.incident, lambda v: v["case"]["status"] == "withdrawal_requested")
    return case


async def test_withdrawal_keeps_the_report_due_until_the_authority_agrees(deadlines: Deadlines) -> None:
    case = await _notified_then_downgraded(deadlines)
    view = await deadlines.view(case.incident)
    assert view["by_window"]["investigation_report"]["status"] == "open"  # nothing cancelled silently
    cases = await deadlines.events(deadlines.kafka.topics.cases, case.incident, at_least=1)
    assert [e.event_type for e in cases] == ["NotificationWithdrawalRequested"]
    listed = await deadlines.client.get("/v1/deadlines", params={"status": "withdrawal_requested"})
    assert {w["incident_id"] for w in listed.json()["items"]} == {str(case.incident)}

    url = f"/v1/incidents/{case.incident}/withdrawal"
    body = {
        "agreed_on": "2025-06-10",
        "authority_reference": "CQC-2025-0042",
        "expected_version": view["case"]["version"],
    }
    deadlines.clock.set(dt.datetime(2025, 6, 11, 9, 0, tzinfo=dt.UTC))
    # Two people record it at once: one records it, the other gets the same answer.
    first, second = await asyncio.gather(
        deadlines.client.post(url, json=body), deadlines.client.post(url, json=body)
    )
    assert {first.status_code, second.status_code} <= {200, 409}, (first.text, second.text)
    answers = [r.json() for r in (first, second) if r.status_code == 200]
    assert sorted(a["recorded"] for a in answers)[-1] is True
    repeat = await deadlines.client.post(url, json={k: v for k, v in body.items() if k != "expected_version"})
    assert repeat.status_code == 200 and repeat.json()["recorded"] is False
    other = await deadlines.client.post(
        url, json={**body, "authority_reference": "CQC-9", "expected_version": None}
    )
    assert other.status_code == 409 and other.json()["version"] == repeat.json()["case"]["version"]

    report = repeat.json()["case"], {w["window"]: w for w in repeat.json()["windows"]}["investigation_report"]
    assert report[1]["status"] == "cancelled" and "CQC-2025-0042" in report[1]["cancelled_reason"]
    cases = await deadlines.events(deadlines.kafka.topics.cases, case.incident, at_least=2)
    assert [e.event_type for e in cases] == [
        "NotificationWithdrawalRequested",
        "NotificationWithdrawalAgreed",
    ]


async def test_withdrawal_of_an_incident_never_notified_is_409(deadlines: Deadlines) -> None:
    case = Case(uuid.uuid4())
    await deadlines.classified(case, 12.0)
    await deadlines.until(case.incident, lambda v: "notification" in v["by_window"])
    refused = await deadlines.client.post(
        f"/v1/incidents/{case.incident}/withdrawal",
        json={"agreed_on": "2025-06-04", "authority_reference": "X1"},
    )
    assert refused.status_code == 409
    assert "never notified" in refused.json()["detail"]
    unknown = await deadlines.client.post(
        f"/v1/incidents/{uuid.uuid4()}/withdrawal",
        json={"agreed_on": "2025-06-04", "authority_reference": "X1"},
    )
    assert unknown.status_code == 404


async def test_late_extension_keeps_the_miss_on_record(deadlines: Deadlines) -> None:
    case = Case(uuid.uuid4())
    await deadlines.classified(case, 12.0)
    await deadlines.until(case.incident, lambda v: "investigation_report" in v["by_window"])
    deadlines.clock.set(dt.datetime(2025, 8, 28, 9, 0, tzinfo=dt.UTC))  # the 12 weeks ended on 25 August
    extended = await deadlines.client.post(
        f"/v1/incidents/{case.incident}/deadlines/investigation_report/extensions",
        json={"extended_to": "2025-09-30", "agreed_by": "CQC inspector", "reason": "late dosimetry"},
    )
    assert extended.status_code == 200, extended.text
    await deadlines.publish(
        deadlines.kafka.topics.submissions,
        case.envelope(
            NotificationSubmitted.model_validate(
                {"authority": "cqc", "submitted_at": "2025-06-05T10:00:00Z", "submitted_by_role": "RP lead"}
            ),
            START,
        ),
    )
    await deadlines.publish(
        deadlines.kafka.topics.submissions,
        case.envelope(
            InvestigationReportSubmitted(
                authority="cqc",
                submitted_at=dt.datetime(2025, 9, 2, 10, tzinfo=dt.UTC),
                submitted_by_role="RP lead",
            ),
            START,
        ),
    )
    view = await deadlines.until(
        case.incident, lambda v: v["by_window"]["investigation_report"]["status"] == "met"
    )
    report = view["by_window"]["investigation_report"]
    assert report["days_late"] == 8  # against 25 August: the extension came after it
    assert report["missed_at"] == "2025-08-25T23:00:00+00:00"
    assert report["extended"][0]["agreed_after_due"] is True
    assert report["extended"][0]["agreed_by"] == "CQC inspector"
    events = await deadlines.events(
        deadlines.kafka.topics.deadlines, case.incident, with_type="DeadlineMet", times=2
    )
    met = [
        e.payload
        for e in events
        if e.event_type == "DeadlineMet" and e.payload["window"] == "investigation_report"
    ]
    extended_events = [e.payload for e in events if e.event_type == "DeadlineExtended"]
    assert met[0]["late"] is True and met[0]["days_late"] == 8
    assert extended_events[0]["agreed_after_due"] is True


async def test_theme_identified_counts_the_windows_from_the_theme(deadlines: Deadlines) -> None:
    case = Case(uuid.uuid4())
    await deadlines.classified(case, 12.0, theme=dt.date(2025, 6, 20))
    view = await deadlines.until(case.incident, lambda v: "investigation_report" in v["by_window"])
    assert view["by_window"]["notification"]["counted_from"] == "2025-06-20"
    assert view["by_window"]["notification"]["discovered_on"] == DISCOVERED.isoformat()
    assert view["by_window"]["notification"]["due_at"] == "2025-07-04T23:00:00+00:00"
    assert view["case"]["theme_identified_on"] == "2025-06-20"


async def test_authority_closure_closes_the_case_and_a_new_query_reopens_it(deadlines: Deadlines) -> None:
    case = Case(uuid.uuid4())
    await deadlines.classified(case, 12.0)
    await deadlines.until(case.incident, lambda v: "notification" in v["by_window"])
    await deadlines.publish(
        deadlines.kafka.topics.submissions, case.envelope(notification("2025-06-05T10:00:00+00:00"), START)
    )
    await deadlines.until(case.incident, lambda v: v["by_window"]["notification"]["status"] == "met")
    closure = AuthorityClosedCase(
        authority="cqc", closed_on=dt.date(2025, 7, 1), reference="CQC-7", recorded_by_role="RP lead"
    )
    await deadlines.publish(deadlines.kafka.topics.cases, case.envelope(closure, START))
    view = await deadlines.until(case.incident, lambda v: v["case"]["status"] == "closed")
    report = view["by_window"]["investigation_report"]
    assert report["status"] == "cancelled" and "closed the case on 2025-07-01" in report["cancelled_reason"]
    assert view["case"]["basis"] == "authority_closed"
    closed = await deadlines.client.get("/v1/deadlines", params={"status": "closed"})
    assert str(case.incident) in {w["incident_id"] for w in closed.json()["items"]}

    query = AuthorityQueryReceived(
        query_id=uuid.uuid4(),
        authority="cqc",
        received_on=dt.date(2025, 8, 1),
        summary="dose?",
        recorded_by_role="RP lead",
    )
    await deadlines.publish(deadlines.kafka.topics.cases, case.envelope(query, START))
    await deadlines.until(case.incident, lambda v: v["case"]["status"] == "open")
    cases = await deadlines.events(deadlines.kafka.topics.cases, case.incident, at_least=2)
    assert [e.event_type for e in cases] == ["CaseClosed", "CaseReopened"]


async def test_retention_timer_fires_case_retention_expired(deadlines: Deadlines) -> None:
    policy = {
        "local_investigation_days": 30,
        "notification_reminders": [7],
        "report_reminders": [14],
        "local_investigation_reminders": [7],
        "retention_years_other": 1,
    }
    assert (await deadlines.client.put("/v1/trusts/RXX/deadline-policy", json=policy)).status_code == 200
    case = Case(uuid.uuid4())
    await deadlines.classified(case, 1.5)
    await deadlines.until(case.incident, lambda v: "local_investigation" in v["by_window"])
    closed = LocalInvestigationClosed(
        owner_role="RPA", closed_by_role="RP lead", closed_on=dt.date(2025, 6, 10), findings="done"
    )
    await deadlines.publish(deadlines.kafka.topics.cases, case.envelope(closed, START))
    # No modality was reported: kept for the longer of the trust's two periods (30 years).
    view = await deadlines.until(case.incident, lambda v: v["case"]["status"] == "closed")
    assert view["case"]["retain_until"] == "2055-06-10"

    deadlines.clock.set(dt.datetime(2055, 6, 10, 22, 0, tzinfo=dt.UTC))
    assert await deadlines.service.fire_due() == 0  # not before the end of the last day
    deadlines.clock.set(dt.datetime(2055, 6, 10, 23, 0, tzinfo=dt.UTC))
    assert await deadlines.service.fire_due() == 1
    assert await deadlines.service.fire_due() == 0  # exactly once
    cases = await deadlines.events(deadlines.kafka.topics.cases, case.incident, at_least=2)
    assert [e.event_type for e in cases] == ["CaseClosed", "CaseRetentionExpired"]
    assert cases[1].payload["retain_until"] == "2055-06-10"
