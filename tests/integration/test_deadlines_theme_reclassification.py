"""The deadlines service and a theme-triggered re-classification, over real Kafka and PostgreSQL.

When only a theme's count changes, the classifier re-decides the same facts and emits
``IncidentReclassified`` with the SAME ``facts_version`` (docs/reporting.md, Thematic reviews).
Deadlines must treat it like any re-classification: nothing changes while the incident stays
notifiable (no window scheduled twice, no timer re-planned), and windows open or are cancelled
when code M makes it notifiable, or an unlink takes M away again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from sievert_classifier.domain import classify
from sievert_deadlines.bootstrap import build
from sievert_deadlines.settings import DeadlinesSettings
from sievert_shared.decision import ClassificationDecision
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import Event, IncidentClassified, IncidentReclassified
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic

pytestmark = pytest.mark.integration

DISCOVERED = dt.date(2025, 6, 2)
TENANT = Tenant(trust="RXX", site="RXX01")


def ct(total_msv: float) -> IncidentFacts:
    """CT, 1 mSv intended: 12 mSv is notifiable alone (code 2.2)."""
    return IncidentFacts.model_validate(
        {
            "nation": "england",
            "discovered_on": DISCOVERED.isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 60,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": total_msv,
        }
    )


def dental() -> IncidentFacts:
    """One person, far below every threshold: notifiable only as part of a theme (code M)."""
    return IncidentFacts.model_validate(
        {
            "nation": "england",
            "discovered_on": DISCOVERED.isoformat(),
            "exposure_kind": "unintended",
            "modality": "dental",
            "patient_age_years": 40,
            "intended_effective_dose_msv": 0.005,
            "total_effective_dose_msv": 0.01,
            "equipment_type": "hand_held",
            # settled, not undecided: a missing fact would open a provisional notification window
            "individuals_affected": 1,
            "clinically_significant": False,
        }
    )


@dataclass
class Deadlines:
    client: httpx.AsyncClient
    kafka: KafkaSettings
    clock: FakeClock
    database_url: str

    async def send(self, *items: EventEnvelope) -> None:
        await produce(
            self.kafka.bootstrap_servers,
            self.kafka.topics.classifications,
            [(e.key, e.to_json_bytes()) for e in items],
        )

    async def applied(self, envelope: EventEnvelope) -> None:
        """Wait until the consumer has processed ``envelope`` (its effect is committed with it)."""

        async def done() -> None:
            conn = await asyncpg.connect(self.database_url)
            try:
                seen = await conn.fetchval(
                    "SELECT 1 FROM processed_events WHERE consumer = 'deadlines.windows' AND event_id = $1",
                    envelope.event_id,
                )
            finally:
                await conn.close()
            assert seen, f"{envelope.event_type} {envelope.event_id} not processed yet"

        await eventually(done)

    async def state(self, incident: uuid.UUID) -> dict[str, Any]:
        """What the service holds: window events emitted so far, pending timers. The incident's
        stream also carries the case's task events (topic cases), which a separate consumer emits
        when it reads these; they are not counted here."""
        conn = await asyncpg.connect(self.database_url)
        try:
            emitted = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE topic = $1 AND envelope->>'stream_id' = $2",
                self.kafka.topics.deadlines,
                str(incident),
            )
            timers = await conn.fetch(
                """SELECT timer_id, window_kind, kind, fire_at, due_at FROM timers
                   WHERE incident_id = $1 ORDER BY timer_id""",
                incident,
            )
        finally:
            await conn.close()
        return {"emitted": emitted, "timers": [tuple(r.values()) for r in timers]}

    async def windows(self, incident: uuid.UUID) -> dict[str, dict[str, Any]]:
        """The incident's windows as the API shows them, less what moves with the clock."""
        response = await self.client.get(f"/v1/incidents/{incident}/deadlines")
        assert response.status_code == 200, response.text
        return {
            w["window"]: {k: v for k, v in w.items() if k not in ("seconds_remaining", "overdue")}
            for w in response.json()["windows"]
        }

    async def events(self, incident: uuid.UUID, at_least: int) -> list[EventEnvelope]:
        def mine(records: list[Any]) -> list[EventEnvelope]:
            return [e for e in envelopes(records) if e.stream_id == incident]

        records = await read_topic(
            self.kafka.bootstrap_servers,
            self.kafka.topics.deadlines,
            until=lambda r: len(mine(r)) >= at_least,
        )
        return sorted(mine(records), key=lambda e: e.stream_version)


@pytest.fixture
async def deadlines(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[Deadlines]:
    clock = FakeClock(dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC))
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    database_url = await make_database("deadlines")
    runtime, app, _service = build(
        DeadlinesSettings(database_url=database_url, kafka=kafka, environment="test"), clock
    )
    transport = httpx.ASGITransport(app=app)
    async with runtime.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://dl") as client:
        yield Deadlines(client, kafka, clock, database_url)


class Classifier:
    """Envelopes as the classifier emits them for one incident: its own stream versions, and for a
    theme's count the same facts re-decided (``facts_version`` unchanged)."""

    def __init__(self, incident: uuid.UUID, facts: IncidentFacts, clock: FakeClock) -> None:
        self.incident, self.facts, self.clock = incident, facts, clock
        self.version = 0
        self.decision: ClassificationDecision | None = None

    def _envelope(self, event: Event) -> EventEnvelope:
        self.version += 1
        return build_envelope(
            event,
            stream_id=self.incident,
            stream_version=self.version,
            tenant=TENANT,
            correlation_id="corr-theme",
            producer="classifier",
            now=self.clock.now(),
        )

    def classified(self) -> EventEnvelope:
        self.decision = classify(self.facts)
        return self._envelope(
            IncidentClassified(decision=self.decision, discovered_on=DISCOVERED, facts_version=1)
        )

    def theme_counted(self, theme_individuals: int | None) -> EventEnvelope:
        before = self.decision
        assert before is not None
        self.decision = classify(self.facts, theme_individuals=theme_individuals)
        assert self.decision != before, "a theme re-classification is emitted only when the outcome changes"
        return self._envelope(
            IncidentReclassified(
                decision=self.decision,
                discovered_on=DISCOVERED,
                facts_version=1,  # the same facts, re-decided with the theme
                previous_notifiable=before.notifiable,
                previous_codes=list(before.codes),
                previous_discovered_on=DISCOVERED,
                changes=[f"codes: {list(before.codes)} -> {list(self.decision.codes)}", "theme: counted"],
            )
        )


async def test_code_m_on_a_notifiable_incident_neither_duplicates_nor_replans_its_windows(
    deadlines: Deadlines,
) -> None:
    # The early "as soon as possible" reminder would fire in the 2 days the clock moves below:
    # off for this trust, so any event or timer change can only come from the re-classification.
    policy = {
        "local_investigation_days": 30,
        "notification_reminders": [7, 3, 1],
        "report_reminders": [28, 14, 7, 1],
        "local_investigation_reminders": [7],
        "asap_reminder_after_days": None,
    }
    assert (await deadlines.client.put("/v1/trusts/RXX/deadline-policy", json=policy)).status_code == 200
    incident = uuid.uuid4()
    classifier = Classifier(incident, ct(12.0), deadlines.clock)
    first = classifier.classified()
    await deadlines.send(first)
    await deadlines.applied(first)
    before = await deadlines.state(incident)
    windows_before = await deadlines.windows(incident)
    assert before["emitted"] == 2 and len(before["timers"]) > 0  # Scheduled x2, reminders and dues

    deadlines.clock.advance(dt.timedelta(days=2))  # a re-plan would now give other timers
    themed = classifier.theme_counted(theme_individuals=2)
    assert themed.payload["decision"]["codes"] == ["M2.2"] and themed.payload["decision"]["notifiable"]
    await deadlines.send(themed)
    await deadlines.applied(themed)

    assert await deadlines.state(incident) == before  # no event emitted, the very same timer rows
    assert await deadlines.windows(incident) == windows_before


async def test_code_m_opens_the_regulation_8_4_windows_and_an_unlink_cancels_them(
    deadlines: Deadlines,
) -> None:
    incident = uuid.uuid4()
    classifier = Classifier(incident, dental(), deadlines.clock)
    first = classifier.classified()
    await deadlines.send(first)
    await deadlines.applied(first)
    assert set(await deadlines.windows(incident)) == {"local_investigation"}

    deadlines.clock.advance(dt.timedelta(days=3))
    themed = classifier.theme_counted(theme_individuals=2)  # ME2.1: notifiable with the theme
    await deadlines.send(themed, themed)  # delivered twice: applied once
    await deadlines.applied(themed)
    windows = await deadlines.windows(incident)
    assert {w: windows[w]["status"] for w in windows} == {
        "local_investigation": "cancelled",
        "notification": "open",
        "investigation_report": "open",
    }
    # counted from the original discovery (2 June), not from the day code M came
    assert windows["notification"]["due_at"] == "2025-06-16T23:00:00+00:00"
    assert windows["investigation_report"]["due_at"] == "2025-08-25T23:00:00+00:00"
    assert windows["notification"]["authority"] == "cqc"
    opened = await deadlines.state(incident)

    deadlines.clock.advance(dt.timedelta(days=1))
    unlinked = classifier.theme_counted(theme_individuals=1)  # the theme fell to one individual
    await deadlines.send(unlinked)
    await deadlines.applied(unlinked)
    windows = await deadlines.windows(incident)
    assert {w: windows[w]["status"] for w in windows} == {
        "local_investigation": "open",
        "notification": "cancelled",
        "investigation_report": "cancelled",
    }
    after = await deadlines.state(incident)
    assert {t[1] for t in after["timers"]} == {"local_investigation"}

    events = await deadlines.events(incident, at_least=after["emitted"])
    assert len(events) == after["emitted"]
    kinds = [(e.event_type, e.payload["window"]) for e in events]
    assert kinds == [
        ("DeadlineScheduled", "local_investigation"),
        ("DeadlineCancelled", "local_investigation"),
        ("DeadlineScheduled", "notification"),
        ("DeadlineApproaching", "notification"),  # the early reminder: 2 days after discovery passed
        ("DeadlineScheduled", "investigation_report"),
        ("DeadlineCancelled", "notification"),
        ("DeadlineCancelled", "investigation_report"),
        ("DeadlineScheduled", "local_investigation"),
    ]
    assert opened["emitted"] == 5
