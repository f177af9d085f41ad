"""A theme that reaches more than one individual feeds back to the classifier:
reporting and the classifier over real Kafka and PostgreSQL, two incidents that alone are far
below every threshold become notifiable under code M once linked (guidance line 276-281)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.settings import DeadlinesSettings
from sievert_reporting.bootstrap import build as build_reporting
from sievert_reporting.settings import ReportingSettings
from sievert_shared.auth import Role
from sievert_shared.envelope import Tenant
from sievert_shared.events import IncidentReported
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings
from tests.support.auth import TEST_ISSUER, development_auth, person
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, produce, read_topic
from tests.support.reporting import THEME, dental, link_to_theme

pytestmark = pytest.mark.integration

HEADERS = person("RXX", Role.RP_LEAD)


async def test_two_linked_incidents_are_reclassified_with_code_m(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    clock = FakeClock(dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC))
    classifier_runtime, classifier_app = build_classifier(
        ClassifierSettings(database_url=await make_database("classifier"), kafka=kafka, environment="test"),
        clock,
    )
    reporting_runtime, reporting_app = build_reporting(
        ReportingSettings(database_url=await make_database("reporting"), kafka=kafka, environment="test"),
        clock,
    )
    reporting_app.state.authenticator = development_auth(TEST_ISSUER)
    async with (
        classifier_runtime.lifespan(classifier_app),
        reporting_runtime.lifespan(reporting_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=reporting_app), base_url="http://rep") as client,
    ):
        incidents = {uuid.uuid4(): "RXX01", uuid.uuid4(): "RXX02"}
        reported = [
            build_envelope(
                IncidentReported(facts=dental(dt.date(2025, 5, 2)), channel="json"),
                stream_id=incident,
                stream_version=1,
                tenant=Tenant(trust="RXX", site=site),
                correlation_id="corr-theme",
                producer="intake",
                now=clock.now(),
            )
            for incident, site in incidents.items()
        ]
        await produce(
            kafka.bootstrap_servers, kafka.topics.incidents, [(e.key, e.to_json_bytes()) for e in reported]
        )

        async def classified() -> None:
            for incident in incidents:
                r = await client.get(f"/v1/incidents/{incident}")
                assert r.status_code == 200 and r.json()["notifiable"] is False, r.text

        await eventually(classified)  # one person each, 2x a tiny intended dose: not notifiable

        location = (await client.post("/v1/themes", json=THEME, headers=HEADERS)).headers["Location"]
        await link_to_theme(client, location, incidents, HEADERS)

        def reclassified(records: list[Any]) -> list[Any]:
            return [e for e in envelopes(records) if e.event_type == "IncidentReclassified"]

        records = await read_topic(
            kafka.bootstrap_servers, kafka.topics.classifications, until=lambda r: len(reclassified(r)) >= 2
        )
        events = reclassified(records)
        assert {e.stream_id for e in events} == set(incidents)
        for event in events:
            decision = event.payload["decision"]
            # line 201-207, 287: M attaches to the most relevant code (2.1 by the intended dose)
            assert decision["notifiable"] is True and decision["codes"][0] == "ME2.1"
            assert event.payload["previous_notifiable"] is False and event.causation_id is not None

        async def projected() -> None:
            for incident in incidents:
                body = (await client.get(f"/v1/incidents/{incident}")).json()
                assert body["notifiable"] is True and body["codes"][0].startswith("M"), body

        await eventually(projected)


async def test_an_unlink_below_two_individuals_takes_code_m_away_and_the_windows_follow(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    """Reporting, the classifier and the deadlines service: code M from a theme opens the
    Regulation 8(4) windows; unlinking one incident leaves one individual, M goes from both
    incidents (re-decided with the same facts_version) and the windows go back to local."""
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    clock = FakeClock(dt.datetime(2025, 5, 6, 9, 0, tzinfo=dt.UTC))
    classifier_runtime, classifier_app = build_classifier(
        ClassifierSettings(database_url=await make_database("classifier"), kafka=kafka, environment="test"),
        clock,
    )
    reporting_runtime, reporting_app = build_reporting(
        ReportingSettings(database_url=await make_database("reporting"), kafka=kafka, environment="test"),
        clock,
    )
    reporting_app.state.authenticator = development_auth(TEST_ISSUER)
    deadlines_runtime, deadlines_app, _ = build_deadlines(
        DeadlinesSettings(database_url=await make_database("deadlines"), kafka=kafka, environment="test"),
        clock,
    )
    async with (
        classifier_runtime.lifespan(classifier_app),
        reporting_runtime.lifespan(reporting_app),
        deadlines_runtime.lifespan(deadlines_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=reporting_app), base_url="http://rep") as client,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=deadlines_app), base_url="http://dl") as dl,
    ):
        a, b = uuid.uuid4(), uuid.uuid4()
        # Settled without the theme (one person, not clinically significant): an undecided
        # decision would keep a provisional notification window open (docs/deadlines.md).
        settled_dental = dental(dt.date(2025, 5, 2)).model_copy(
            update={"individuals_affected": 1, "clinically_significant": False}
        )
        reported = [
            build_envelope(
                IncidentReported(facts=settled_dental, channel="json"),
                stream_id=incident,
                stream_version=1,
                tenant=Tenant(trust="RXX", site=site),
                correlation_id="corr-unlink",
                producer="intake",
                now=clock.now(),
            )
            for incident, site in ((a, "RXX01"), (b, "RXX02"))
        ]
        await produce(
            kafka.bootstrap_servers, kafka.topics.incidents, [(e.key, e.to_json_bytes()) for e in reported]
        )

        async def windows(incident: uuid.UUID) -> dict[str, str]:
            r = await dl.get(f"/v1/incidents/{incident}/deadlines")
            assert r.status_code == 200, r.text
            return {w["window"]: w["status"] for w in r.json()["windows"]}

        async def local_only() -> None:
            for incident in (a, b):
                assert await windows(incident) == {"local_investigation": "open"}

        await eventually(local_only)
        location = (await client.post("/v1/themes", json=THEME, headers=HEADERS)).headers["Location"]
        await link_to_theme(client, location, (a, b), HEADERS)

        notifiable = {
            "local_investigation": "cancelled",
            "notification": "open",
            "investigation_report": "open",
        }

        async def opened() -> None:
            for incident in (a, b):
                assert await windows(incident) == notifiable

        await eventually(opened)

        unlinked = await client.post(
            f"{location}/incidents/{b}/unlink",
            json={"reason": "Another cause on review.", "unlinked_by_role": "RPA"},
            headers=HEADERS,
        )
        assert unlinked.status_code == 200, unlinked.text
        assert unlinked.json()["code_m_applies"] is False

        local_again = {
            "local_investigation": "open",
            "notification": "cancelled",
            "investigation_report": "cancelled",
        }

        async def back_to_local() -> None:
            for incident in (a, b):
                assert await windows(incident) == local_again
                body = (await client.get(f"/v1/incidents/{incident}", headers=HEADERS)).json()
                assert body["notifiable"] is False and body["codes"] == [], body

        await eventually(back_to_local)

        def reclassified(records: list[Any]) -> list[Any]:
            return [e for e in envelopes(records) if e.event_type == "IncidentReclassified"]

        records = await read_topic(
            kafka.bootstrap_servers, kafka.topics.classifications, until=lambda r: len(reclassified(r)) >= 4
        )
        events = reclassified(records)
        assert len(events) == 4  # M on, M off, for each incident: no other re-decision
        taken_off = [e for e in events if e.payload["decision"]["notifiable"] is False]
        assert {e.stream_id for e in taken_off} == {a, b}
        for event in taken_off:
            assert event.payload["previous_codes"] == ["ME2.1"] and event.payload["facts_version"] == 1
        (b_off,) = [e for e in taken_off if e.stream_id == b]
        assert any("unlinked" in change for change in b_off.payload["changes"])
