"""Reporting as its integration tests run it: the service over real Kafka and PostgreSQL with a
fake clock (``reporting`` fixture), incidents posted as intake and the classifier would, and the
samples and helpers more than one of those tests uses."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from sievert_classifier.domain import classify
from sievert_reporting.bootstrap import build
from sievert_reporting.entrypoints.consumers import PROJECTION, PROJECTION_TABLES
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
from tests.support.kafka import eventually, produce
from tests.support.samples import hand_held_dental

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


def envelope(
    event: Event,
    incident: uuid.UUID,
    site: str,
    producer: str,
    now: dt.datetime,
    trust: str = TRUST,
    *,
    version: int = 1,
    correlation_id: str = "corr-rep",
) -> EventEnvelope:
    """``event`` as ``producer`` would log it on the incident's stream."""
    return build_envelope(
        event,
        stream_id=incident,
        stream_version=version,
        tenant=Tenant(trust=trust, site=site),
        correlation_id=correlation_id,
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

    async def publish(self, topic: str, logged: Iterable[EventEnvelope]) -> None:
        """Produce envelopes to ``topic`` keyed by their incident, as the services' relays do."""
        await produce(self.kafka.bootstrap_servers, topic, [(e.key, e.to_json_bytes()) for e in logged])

    async def incident(self, facts: IncidentFacts, site: str = "RXX01", trust: str = TRUST) -> uuid.UUID:
        """Post an incident as intake and the classifier would, for any trust, and wait until
        reporting has projected both its facts and its decision."""
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
            [_keyed(envelope(reported, incident, site, "intake", now, trust))],
        )
        await produce(
            self.kafka.bootstrap_servers,
            topics.classifications,
            [_keyed(envelope(classified, incident, site, "classifier", now, trust))],
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


async def snapshot(database_url: str) -> dict[str, list[dict[str, Any]]]:
    conn = await asyncpg.connect(database_url)
    try:
        tables = {}
        for table in PROJECTION_TABLES:
            rows = await conn.fetch(f"SELECT to_jsonb(t) AS row FROM {table} t")
            tables[table] = sorted((r["row"] for r in rows), key=str)
        return tables
    finally:
        await conn.close()


async def assert_consumed_back(database_url: str, also: Sequence[uuid.UUID] = ()) -> None:
    """Every event reporting published that its projection applies has come back through its
    consumer, and so have ``also`` (events the test produced): the read model has settled."""
    conn = await asyncpg.connect(database_url)
    try:
        unpublished = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        emitted = await conn.fetch(
            "SELECT event_id FROM outbox WHERE envelope ->> 'event_type' = ANY($1::text[])",
            list(PROJECTION),
        )
        consumed = await conn.fetchval(
            "SELECT count(*) FROM processed_events WHERE event_id = ANY($1::uuid[])",
            [r["event_id"] for r in emitted] + list(also),
        )
    finally:
        await conn.close()
    assert unpublished == 0 and consumed == len(emitted) + len(also)


def assert_same_rows(live: dict[str, list[dict[str, Any]]], rebuilt: dict[str, list[dict[str, Any]]]) -> None:
    """The projection's tables alike, compared row by row so a failure shows the rows that differ."""
    for table in PROJECTION_TABLES:
        only_live = [row for row in live[table] if row not in rebuilt[table]]
        only_replayed = [row for row in rebuilt[table] if row not in live[table]]
        assert (only_live, only_replayed) == ([], []), table


def dental(discovered: dt.date) -> IncidentFacts:
    """A hand-held dental unit that fired twice through a fault (complementary code E)."""
    return hand_held_dental(discovered, equipment_fault=True)


async def dental_at_two_sites(rep: Reporting) -> tuple[uuid.UUID, uuid.UUID]:
    """Two of the trust's hand-held dental incidents, at sites RXX01 and RXX02 18 days apart: a
    theme of them reaches two individuals."""
    first = await rep.incident(dental(dt.date(2025, 5, 2)), "RXX01")
    second = await rep.incident(dental(dt.date(2025, 5, 20)), "RXX02")
    return first, second


THEME = {
    "site": "RXX01",
    "title": "Hand-held dental units",
    "description": "Hand-held intraoral units firing a second exposure when the trigger is released.",
    "opened_by_role": "Radiation protection lead",
}


async def link_to_theme(
    client: httpx.AsyncClient, location: str, incidents: Iterable[uuid.UUID], headers: dict[str, str]
) -> None:
    """Link each incident to the theme at ``location``, as a person would; each link is created."""
    for incident in incidents:
        linked = await client.post(
            f"{location}/incidents",
            json={"incident_id": str(incident), "linked_by_role": "RPA"},
            headers=headers,
        )
        assert linked.status_code == 201, linked.text


def _keyed(logged: EventEnvelope) -> tuple[bytes, bytes]:
    """A record keyed as the services' relays key it (``EventEnvelope.key``), so that a replay
    of a log these tests wrote splits its partitions as it would a production log's."""
    return logged.key, logged.to_json_bytes()
