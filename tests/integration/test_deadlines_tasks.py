"""People's tasks in the deadlines service over real Kafka and PostgreSQL, with a fake clock moved
across days: the tasks consumer (classifications, the report window's own events, reporting's
confirmations), the task timers in the deadlines timer loop, and the task routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sievert_classifier.domain import classify
from sievert_deadlines.bootstrap import build
from sievert_deadlines.domain.tasks import task_id_for
from sievert_deadlines.service_layer.tasks import TasksService
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.auth import Role
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import (
    Event,
    IncidentClassified,
    IncidentReclassified,
    SimilarIncidentsConfirmed,
    TaskKind,
)
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings
from tests.support.auth import TEST_ISSUER, person, required_auth
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic

pytestmark = pytest.mark.integration

DISCOVERED = dt.date(2025, 6, 2)  # a Monday
TENANT = Tenant(trust="RXX", site="RXX01")
START = dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC)


def facts(total_msv: float, **extra: Any) -> IncidentFacts:
    return IncidentFacts.model_validate(
        {
            "nation": "england",
            "discovered_on": DISCOVERED.isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 60,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": total_msv,
            **extra,
        }
    )


def envelope(
    event: Event, incident: uuid.UUID, version: int, now: dt.datetime, producer: str
) -> EventEnvelope:
    return build_envelope(
        event,
        stream_id=incident,
        stream_version=version,
        tenant=TENANT,
        correlation_id="corr-tasks",
        producer=producer,
        now=now,
    )


def classified(incident: uuid.UUID, now: dt.datetime, **extra: Any) -> EventEnvelope:
    event = IncidentClassified(
        decision=classify(facts(12.0, **extra)), discovered_on=DISCOVERED, facts_version=1
    )
    return envelope(event, incident, 1, now, "classifier")


def reclassified(incident: uuid.UUID, now: dt.datetime, version: int, **extra: Any) -> EventEnvelope:
    event = IncidentReclassified(
        decision=classify(facts(12.0, **extra)),
        discovered_on=DISCOVERED,
        facts_version=version,
        previous_notifiable=True,
        previous_codes=["C2.2"],
        previous_discovered_on=DISCOVERED,
        changes=["csaue: True -> False"],
    )
    return envelope(event, incident, version, now, "classifier")


CANDOUR: dict[str, Any] = {
    "completed_by_role": "Consultant radiologist",
    "completed_on": "2025-06-04",
    "outcome": "Told in person, apology given, letter sent.",
    "steps": {"told_patient": "2025-06-03", "apologised": "2025-06-03", "written_follow_up": "2025-06-04"},
    "step_roles": {"written_follow_up": "Governance lead"},
}


@dataclass
class Tasks:
    app: FastAPI
    client: httpx.AsyncClient
    service: TasksService
    clock: FakeClock
    kafka: KafkaSettings

    async def classify(self, incident: uuid.UUID, *messages: EventEnvelope) -> None:
        await produce(
            self.kafka.bootstrap_servers,
            self.kafka.topics.classifications,
            [(incident.bytes, m.to_json_bytes()) for m in messages],
        )

    async def case_events(
        self, incident: uuid.UUID, until: Callable[[list[EventEnvelope]], bool]
    ) -> list[EventEnvelope]:
        def mine(records: list[Any]) -> list[EventEnvelope]:
            return [e for e in envelopes(records) if e.stream_id == incident]

        records = await read_topic(
            self.kafka.bootstrap_servers, self.kafka.topics.cases, until=lambda r: until(mine(r))
        )
        return sorted(mine(records), key=lambda e: e.stream_version)

    async def tasks(self, incident: uuid.UUID) -> dict[str, dict[str, Any]]:
        response = await self.client.get(f"/v1/incidents/{incident}/tasks")
        assert response.status_code == 200, response.text
        return {t["kind"]: t for t in response.json()["tasks"]}

    async def wait_for(self, incident: uuid.UUID, kind: TaskKind, status: str = "open") -> dict[str, Any]:
        async def there() -> None:
            response = await self.client.get(f"/v1/incidents/{incident}/tasks")
            assert response.status_code == 200
            assert any(t["kind"] == kind and t["status"] == status for t in response.json()["tasks"])

        await eventually(there)
        return (await self.tasks(incident))[kind.value]

    def url(self, incident: uuid.UUID, kind: TaskKind, action: str) -> str:
        return f"/v1/incidents/{incident}/tasks/{task_id_for(incident, kind)}/{action}"


def of_type(
    events: list[EventEnvelope], event_type: str, kind: TaskKind | None = None
) -> list[EventEnvelope]:
    return [e for e in events if e.event_type == event_type and (kind is None or e.payload["kind"] == kind)]


@pytest.fixture
async def tasks(infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]) -> AsyncIterator[Tasks]:
    clock = FakeClock(START)
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    settings = DeadlinesSettings(database_url=await make_database("dltasks"), kafka=kafka, environment="test")
    runtime, app, _service = build(settings, clock)
    transport = httpx.ASGITransport(app=app)
    async with runtime.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://dl") as client:
        yield Tasks(app, client, app.state.tasks_service, clock, kafka)


async def test_duty_of_candour_task_opens_for_a_csaue_reminds_and_completes_once(tasks: Tasks) -> None:
    incident = uuid.uuid4()
    await tasks.classify(incident, classified(incident, tasks.clock.now(), clinically_significant=True))
    candour = await tasks.wait_for(incident, TaskKind.DUTY_OF_CANDOUR)
    # 10 working days from Monday 2 June (the default policy): the end of Monday 16 June, BST
    assert candour["due_at"] == "2025-06-16T23:00:00+00:00"
    assert candour["guidance_lines"] == [85, 235]
    listed = await tasks.tasks(incident)
    assert {TaskKind.REGULATION_8_1_INFORM, TaskKind.EARLY_INSPECTOR_CONTACT} <= set(listed)

    # 3 days before the due: the first reminder, never a second earlier
    tasks.clock.set(dt.datetime(2025, 6, 13, 22, 59, tzinfo=dt.UTC))
    await tasks.service.fire_due()
    tasks.clock.set(dt.datetime(2025, 6, 13, 23, 0, tzinfo=dt.UTC))
    await tasks.service.fire_due()
    approaching = of_type(
        await tasks.case_events(incident, lambda es: len(of_type(es, "TaskApproaching")) >= 3),
        "TaskApproaching",
    )
    # the early contact of a CSAUE is due with the notification, the same instant here
    assert sorted((e.payload["kind"], e.payload["reminder"]) for e in approaching) == [
        ("duty_of_candour", "P3D"),
        ("early_inspector_contact", "P3D"),
        ("regulation_8_1_inform", "P3D"),
    ]

    url = tasks.url(incident, TaskKind.DUTY_OF_CANDOUR, "complete")
    untold = {**CANDOUR, "steps": {"apologised": "2025-06-03", "written_follow_up": "2025-06-04"}}
    refused = await tasks.client.post(url, json=untold)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["path"] for e in refused.json()["errors"]] == ["steps.told_patient"]
    early = await tasks.client.post(
        url, json={**CANDOUR, "steps": {**CANDOUR["steps"], "told_patient": "2025-05-30"}}
    )
    assert early.status_code == 422
    assert "before the discovery" in early.json()["errors"][0]["message"]

    done = await tasks.client.post(url, json=CANDOUR)
    again = await tasks.client.post(url, json=CANDOUR)
    other = await tasks.client.post(url, json={**CANDOUR, "outcome": "Another account."})
    assert done.status_code == again.status_code == 200, done.text
    assert done.json() == again.json()
    assert done.json()["status"] == "done"
    assert done.json()["completion"]["steps"]["told_patient"] == "2025-06-03"
    assert done.json()["completion"]["step_roles"] == {"written_follow_up": "Governance lead"}
    assert other.status_code == 409
    assert other.json()["task"]["completion"]["outcome"] == CANDOUR["outcome"]
    assert other.json()["current_version"] == done.json()["version"]

    # past the due: the completed task is not overdue; the open ones are, once, with no stale
    # 1-day reminder before it
    tasks.clock.set(dt.datetime(2025, 6, 20, 9, 0, tzinfo=dt.UTC))
    await tasks.service.fire_due()
    await tasks.service.fire_due()
    events = await tasks.case_events(incident, lambda es: len(of_type(es, "TaskOverdue")) >= 2)
    assert len(of_type(events, "TaskCompleted", TaskKind.DUTY_OF_CANDOUR)) == 1
    assert sorted(e.payload["kind"] for e in of_type(events, "TaskOverdue")) == [
        "early_inspector_contact",
        "regulation_8_1_inform",
    ]
    assert len(of_type(events, "TaskApproaching")) == 3
    completed = of_type(events, "TaskCompleted")[0].payload
    assert completed["steps"] == CANDOUR["steps"] and completed["steps_not_taken"] == {}


async def test_regulation_8_1_task_records_why_the_patient_was_not_told(tasks: Tasks) -> None:
    incident = uuid.uuid4()
    await tasks.classify(incident, classified(incident, tasks.clock.now(), clinically_significant=True))
    await tasks.wait_for(incident, TaskKind.REGULATION_8_1_INFORM)
    url = tasks.url(incident, TaskKind.REGULATION_8_1_INFORM, "complete")
    body = {
        "completed_by_role": "RPA",
        "outcome": "Referrer and practitioner informed.",
        "steps": {"informed_referrer": "2025-06-03", "informed_practitioner": "2025-06-03"},
    }
    missing = await tasks.client.post(url, json=body)
    assert missing.status_code == 422
    assert [e["path"] for e in missing.json()["errors"]] == ["steps.informed_patient"]
    why = {"informed_patient": "Clinical reasons: to be told at the next review."}
    done = await tasks.client.post(url, json={**body, "steps_not_taken": why})
    assert done.status_code == 200, done.text
    assert done.json()["completion"]["completed_on"] == "2025-06-03"  # today in London by default
    events = await tasks.case_events(incident, lambda es: bool(of_type(es, "TaskCompleted")))
    assert of_type(events, "TaskCompleted")[0].payload["steps_not_taken"] == why


async def test_similar_incidents_confirmed_by_reporting_completes_the_task_once(tasks: Tasks) -> None:
    incident = uuid.uuid4()
    await tasks.classify(incident, classified(incident, tasks.clock.now()))
    task = await tasks.wait_for(incident, TaskKind.SIMILAR_INCIDENTS_CONFIRMATION)
    assert task["due_at"] == "2025-08-25T23:00:00+00:00"  # with the 12-week report (line 234)
    assert TaskKind.DUTY_OF_CANDOUR not in await tasks.tasks(incident)  # code 2.2 is not a CSAUE

    confirmed = SimilarIncidentsConfirmed(
        confirmed_by_role="RPA", confirmed_on=dt.date(2025, 6, 3), summary="None in five years.", edited=True
    )
    message = envelope(confirmed, incident, 1, tasks.clock.now(), "reporting")
    await produce(  # delivered twice, as after a relay's crash: one completion
        tasks.kafka.bootstrap_servers,
        tasks.kafka.topics.cases,
        [(incident.bytes, message.to_json_bytes()), (incident.bytes, message.to_json_bytes())],
    )
    done = await tasks.wait_for(incident, TaskKind.SIMILAR_INCIDENTS_CONFIRMATION, "done")
    assert done["completion"]["steps"] == {"confirmed": "2025-06-03"}
    assert done["completion"]["completed_by_role"] == "RPA"

    # the generic route after the confirmation: another record is a conflict, nothing is emitted
    url = tasks.url(incident, TaskKind.SIMILAR_INCIDENTS_CONFIRMATION, "complete")
    late = await tasks.client.post(
        url,
        json={"completed_by_role": "RP lead", "outcome": "confirmed", "steps": {"confirmed": "2025-06-03"}},
    )
    assert late.status_code == 409
    events = await tasks.case_events(incident, lambda es: bool(of_type(es, "TaskCompleted")))
    assert len(of_type(events, "TaskCompleted")) == 1


async def test_a_reclassification_that_no_longer_calls_for_a_task_cancels_it(tasks: Tasks) -> None:
    incident = uuid.uuid4()
    now = tasks.clock.now()
    await tasks.classify(incident, classified(incident, now, clinically_significant=True))
    await tasks.wait_for(incident, TaskKind.DUTY_OF_CANDOUR)
    await tasks.classify(
        incident, reclassified(incident, now, 2, clinically_significant=False, equipment_fault=True)
    )
    cancelled = await tasks.wait_for(incident, TaskKind.DUTY_OF_CANDOUR, "cancelled")
    assert "not a clinically significant exposure" in cancelled["cancelled_reason"]
    mhra = await tasks.wait_for(incident, TaskKind.MHRA_REPORT)
    assert mhra["due_at"] is None and "MHRA" in mhra["reason"]

    refused = await tasks.client.post(tasks.url(incident, TaskKind.DUTY_OF_CANDOUR, "complete"), json=CANDOUR)
    assert refused.status_code == 409
    events = await tasks.case_events(incident, lambda es: len(of_type(es, "TaskCancelled")) >= 3)
    assert sorted(e.payload["kind"] for e in of_type(events, "TaskCancelled")) == [
        "duty_of_candour",
        "early_inspector_contact",
        "regulation_8_1_inform",
    ]
    assert of_type(events, "TaskCancelled")[0].causation_id is not None


async def test_task_work_queue_sorted_by_due_assign_and_overdue(tasks: Tasks) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await tasks.classify(first, classified(first, tasks.clock.now(), clinically_significant=True))
    await tasks.classify(second, classified(second, tasks.clock.now(), equipment_fault=True))
    await tasks.wait_for(first, TaskKind.SIMILAR_INCIDENTS_CONFIRMATION)
    await tasks.wait_for(second, TaskKind.MHRA_REPORT)
    await tasks.wait_for(second, TaskKind.SIMILAR_INCIDENTS_CONFIRMATION)

    queue = (await tasks.client.get("/v1/tasks", params={"status": "open", "trust": "RXX"})).json()["items"]
    dues = [t["due_at"] for t in queue]
    dated = [d for d in dues if d is not None]
    assert dated == sorted(dated) and dues[len(dated) :] == [None]  # the MHRA report has no due, last
    assert queue[0]["due_at"] == "2025-06-16T23:00:00+00:00"  # 10 working days, and the 2-week notification
    mhra = (await tasks.client.get("/v1/tasks", params={"kind": "mhra_report"})).json()["items"]
    assert [t["incident_id"] for t in mhra] == [str(second)]
    assert (await tasks.client.get("/v1/tasks", params={"trust": "RYY"})).json()["items"] == []

    url = tasks.url(first, TaskKind.DUTY_OF_CANDOUR, "assign")
    body = {"owner_role": "Consultant radiologist", "assigned_by_role": "RP lead", "expected_version": 1}
    assigned = await tasks.client.post(url, json=body)
    stale = await tasks.client.post(url, json={**body, "owner_role": "RPA"})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["owner_role"] == "Consultant radiologist" and assigned.json()["version"] == 2
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    unknown = await tasks.client.post(f"/v1/incidents/{first}/tasks/{uuid.uuid4()}/assign", json=body)
    assert unknown.status_code == 404

    tasks.clock.set(dt.datetime(2025, 6, 18, 9, 0, tzinfo=dt.UTC))  # past the 10 working days and 2 weeks
    overdue = (await tasks.client.get("/v1/tasks", params={"status": "overdue"})).json()["items"]
    assert {t["kind"] for t in overdue} == {
        "duty_of_candour",
        "regulation_8_1_inform",
        "early_inspector_contact",
    }
    assert all(t["overdue"] for t in overdue)


async def test_two_people_completing_a_task_at_once(tasks: Tasks) -> None:
    incident = uuid.uuid4()
    await tasks.classify(incident, classified(incident, tasks.clock.now(), clinically_significant=True))
    await tasks.wait_for(incident, TaskKind.DUTY_OF_CANDOUR)
    await tasks.wait_for(incident, TaskKind.EARLY_INSPECTOR_CONTACT)

    tasks.clock.set(dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC))
    url = tasks.url(incident, TaskKind.DUTY_OF_CANDOUR, "complete")
    same = await asyncio.gather(*(tasks.client.post(url, json=CANDOUR) for _ in range(2)))
    assert [r.status_code for r in same] == [200, 200]
    assert same[0].json() == same[1].json()

    contact = tasks.url(incident, TaskKind.EARLY_INSPECTOR_CONTACT, "complete")
    bodies = [
        {
            "completed_by_role": "RP lead",
            "outcome": "Spoke to the inspector.",
            "steps": {"contacted": "2025-06-03"},
        },
        {
            "completed_by_role": "RPA",
            "outcome": "Emailed the inspector.",
            "steps": {"contacted": "2025-06-03"},
        },
    ]
    different = await asyncio.gather(*(tasks.client.post(contact, json=b) for b in bodies))
    assert sorted(r.status_code for r in different) == [200, 409]
    winner = next(r for r in different if r.status_code == 200).json()
    loser = next(r for r in different if r.status_code == 409).json()
    assert loser["task"]["completion"]["outcome"] == winner["completion"]["outcome"]

    events = await tasks.case_events(incident, lambda es: len(of_type(es, "TaskCompleted")) >= 2)
    assert sorted(e.payload["kind"] for e in of_type(events, "TaskCompleted")) == [
        "duty_of_candour",
        "early_inspector_contact",
    ]


async def test_task_routes_answer_404_before_classification(tasks: Tasks) -> None:
    incident = uuid.uuid4()
    assert (await tasks.client.get(f"/v1/incidents/{incident}/tasks")).status_code == 404
    response = await tasks.client.post(
        tasks.url(incident, TaskKind.DUTY_OF_CANDOUR, "complete"), json=CANDOUR
    )
    assert response.status_code == 404


async def test_who_may_act_on_a_task_may_read_it(tasks: Tasks) -> None:
    """A trust admin assigns and completes tasks, so reads them too; an auditor reads them; a
    theme reviewer and an integration engine do neither; another trust finds nothing."""
    incident = uuid.uuid4()
    await tasks.classify(incident, classified(incident, tasks.clock.now(), clinically_significant=True))
    await tasks.wait_for(incident, TaskKind.DUTY_OF_CANDOUR)
    tasks.app.state.authenticator = required_auth(TEST_ISSUER)
    reads = (f"/v1/incidents/{incident}/tasks", "/v1/tasks")
    for role, status in (
        (Role.TRUST_ADMIN, 200),
        (Role.AUDITOR, 200),
        (Role.RP_LEAD, 200),
        (Role.THEME_REVIEWER, 403),
        (Role.INTEGRATION, 403),
    ):
        for path in reads:
            answer = await tasks.client.get(path, headers=person("RXX", role))
            assert answer.status_code == status, (role, path, answer.text)
            if status == 200:
                assert str(incident) in answer.text, (role, path)
    admin = person("RXX", Role.TRUST_ADMIN)
    assigned = await tasks.client.post(
        tasks.url(incident, TaskKind.DUTY_OF_CANDOUR, "assign"),
        json={"owner_role": "Consultant radiologist", "assigned_by_role": "Trust administrator"},
        headers=admin,
    )
    assert assigned.status_code == 200, assigned.text
    listed = await tasks.client.get(f"/v1/incidents/{incident}/tasks", headers=admin)
    owners = {t["kind"]: t["owner_role"] for t in listed.json()["tasks"]}
    assert owners[TaskKind.DUTY_OF_CANDOUR] == "Consultant radiologist"
    elsewhere = person("RYY", Role.TRUST_ADMIN)
    assert (await tasks.client.get(f"/v1/incidents/{incident}/tasks", headers=elsewhere)).status_code == 404
    assert str(incident) not in (await tasks.client.get("/v1/tasks", headers=elsewhere)).text
