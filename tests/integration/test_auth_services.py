"""Authentication and tenancy beyond intake's HTTP routes, over real PostgreSQL and
Kafka, authentication required: the MLLP listener, where the sending facility (MSH-4) names the
integration client; Idempotency-Keys, which belong to the caller's trust; and the classifier's
and the deadlines service's routes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.settings import DeadlinesSettings
from sievert_intake.settings import FacilityConfig
from sievert_shared.auth import AuthSettings, Role
from sievert_shared.settings import KafkaSettings
from tests.fixtures.intake_support import (
    Ack,
    RunningIntake,
    hl7_fixture,
    replace_segment_field,
    running_intake,
    with_control_id,
)
from tests.integration.test_deadlines_service import classified
from tests.support.auth import TEST_ISSUER, api_key, person, required_auth
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import eventually, produce
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

PEX = hl7_fixture("pex_p07_ct_overexposure.hl7")  # MSH-4 RXX, PV1-3.4 RXX01
ENGINE_RXX = api_key("engine-rxx", "RXX", ["RXX01"])
ENGINE_RYY = api_key("engine-ryy", "RYY", ["RYY01"])


# -- MLLP: the sending facility is the client ---------------------------------------------------


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[RunningIntake]:
    auth = AuthSettings(mode="required", api_keys={k.key_id: k.config for k in (ENGINE_RXX, ENGINE_RYY)})
    async with running_intake(
        infra,
        topic_prefix,
        make_database,
        auth=auth,
        # RXX is the trust's own engine; "RYY-PACS" is trust RYY's engine naming trust RXX.
        mllp_clients={"RXX": ENGINE_RXX.key_id, "RYY-PACS": ENGINE_RYY.key_id},
        facilities={"RYY-PACS": FacilityConfig(trust="RXX", nation="england")},
    ) as running:
        yield running


async def stored(intake: RunningIntake) -> tuple[int, int, int]:
    """Events, outbox rows and patient identifier rows: what a refused message must not leave."""
    return (
        await intake.count("SELECT count(*) FROM events"),
        await intake.count("SELECT count(*) FROM outbox"),
        await intake.count("SELECT count(*) FROM incident_patients"),
    )


def msh4(message: bytes, facility: str) -> bytes:
    """The message from another sending facility. MSH-1 is the separator itself, so MSH-4 is the
    fourth field after the segment name."""
    return replace_segment_field(message, "MSH", 3, facility)


async def send(intake: RunningIntake, message: bytes) -> Ack:
    peer = await intake.mllp()
    try:
        return await peer.request(message)
    finally:
        await peer.close()


async def test_a_facility_that_is_not_a_configured_client_is_refused_and_nothing_is_stored(
    intake: RunningIntake,
) -> None:
    stranger = msh4(with_control_id(PEX, "STRANGE1"), "RZZ")
    ack = await send(intake, stranger)
    assert ack.code in ("AR", "AE"), ack.segments
    assert ack.control_id == "STRANGE1"
    assert "MSH-4" in ack.error_locations()
    assert await stored(intake) == (0, 0, 0)
    # The same message from the configured facility is stored: the refusal was the facility.
    assert (await send(intake, PEX)).code == "AA"
    events, _outbox, patients = await stored(intake)
    assert (events, patients) == (1, 1)


async def test_a_client_sending_for_a_site_or_trust_it_does_not_serve_is_refused(
    intake: RunningIntake,
) -> None:
    # engine-rxx serves RXX01 only: a message for RXX02 is refused, naming PV1-3.
    other_site = replace_segment_field(with_control_id(PEX, "SITE0002"), "PV1", 3, "CT1^^^RXX02")
    ack = await send(intake, other_site)
    assert ack.code in ("AR", "AE"), ack.segments
    assert "PV1-3" in ack.error_locations()
    # trust RYY's engine, through a facility that names trust RXX, may not report for RXX.
    other_trust = msh4(with_control_id(PEX, "TRUST003"), "RYY-PACS")
    ack = await send(intake, other_trust)
    assert ack.code in ("AR", "AE"), ack.segments
    assert "RXX" in " ".join("|".join(s) for s in ack.errors())
    assert await stored(intake) == (0, 0, 0)
    # The control: engine-rxx for its own site is stored, under the client's name.
    assert (await send(intake, with_control_id(PEX, "OWN00004"))).code == "AA"
    assert await intake.count("SELECT count(*) FROM events") == 1
    assert await intake.count("SELECT count(*) FROM events WHERE envelope->>'actor' = 'engine-rxx'") == 1


# -- Idempotency-Keys belong to a trust ----------------------------------------------------------


async def test_another_trusts_idempotency_key_is_another_key(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    """Engines pick their keys, and two trusts' engines may pick the same one (a message id, a
    counter). The stored answer of one trust must never come back to the other: it names that
    trust's incident, and the second request would be dropped as a repeat."""
    async with running_intake(infra, topic_prefix, make_database) as intake:
        intake.app.state.authenticator = required_auth(TEST_ISSUER, [ENGINE_RXX, ENGINE_RYY])
        c = intake.http
        key = {"Idempotency-Key": "msg-0001"}
        first = await c.post(
            "/v1/incidents", json=ct_overexposure("RXX", "RXX01"), headers={**ENGINE_RXX.header, **key}
        )
        other = await c.post(
            "/v1/incidents", json=ct_overexposure("RYY", "RYY01"), headers={**ENGINE_RYY.header, **key}
        )
        assert (first.status_code, other.status_code) == (202, 202), other.text
        assert other.json()["incident_id"] != first.json()["incident_id"]
        # The same key and body from the same trust is still the same answer.
        again = await c.post(
            "/v1/incidents", json=ct_overexposure("RXX", "RXX01"), headers={**ENGINE_RXX.header, **key}
        )
        assert again.json() == first.json()

        # An amendment body that is the same bytes for both trusts (it names no incident).
        amendment = (
            b'{"expected_version": 1, "facts": {"total_effective_dose_msv": 13.0}, "reason": "Re-measured."}'
        )
        json_key = {"Idempotency-Key": "amend-0001", "Content-Type": "application/json"}
        for engine, answer in ((ENGINE_RXX, first), (ENGINE_RYY, other)):
            incident = answer.json()["incident_id"]
            amended = await c.post(
                f"/v1/incidents/{incident}/amendments",
                content=amendment,
                headers={**engine.header, **json_key},
            )
            assert amended.status_code == 202, amended.text
            assert amended.json()["incident_id"] == incident  # its own, not the other trust's
            read = await c.get(f"/v1/incidents/{incident}", headers=engine.header)
            assert read.json()["stream_version"] == 2  # applied, not taken for a repeat


# -- the classifier's and the deadlines service's routes ----------------------------------------


async def test_the_classifiers_dry_run_needs_an_rp_lead(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    runtime, app = build_classifier(
        ClassifierSettings(database_url=await make_database("classifier"), kafka=kafka, environment="test")
    )
    app.state.authenticator = required_auth(TEST_ISSUER, [ENGINE_RXX])
    facts = ct_overexposure()["facts"]
    async with (
        runtime.lifespan(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cls") as c,
    ):
        anonymous = await c.post("/v1/classify", json=facts)
        assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
        forged = await c.post("/v1/classify", json=facts, headers={"Authorization": "ApiKey engine-rxx.nope"})
        assert forged.status_code == 401
        for role in (Role.AUDITOR, Role.TRUST_ADMIN, Role.THEME_REVIEWER):
            refused = await c.post("/v1/classify", json=facts, headers=person("RXX", role))
            assert refused.status_code == 403, role
        assert (await c.post("/v1/classify", json=facts, headers=ENGINE_RXX.header)).status_code == 403
        decided = await c.post("/v1/classify", json=facts, headers=person("RXX", Role.RP_LEAD))
        assert decided.status_code == 200, decided.text
        assert decided.json()["codes"] == ["2.2"]  # CQC table, code 2.2: 12x a 1 mSv intended dose
        assert (await c.get("/healthz")).status_code == 200


POLICY = {
    "local_investigation_days": 30,
    "notification_reminders": [7, 3, 1],
    "report_reminders": [28, 14, 7, 1],
    "local_investigation_reminders": [7],
}
EXTERNAL = {
    "kind": "notification",
    "authority": "cqc",
    "submitted_at": "2025-06-03T10:00:00+00:00",
    "submitted_by_role": "RPA",
}
EXTENSION = {"extended_to": "2025-10-01", "agreed_by": "CQC inspector", "reason": "More time to measure."}


async def test_deadlines_routes_check_role_and_trust(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    clock = FakeClock(dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC))
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    runtime, app, _service = build_deadlines(
        DeadlinesSettings(database_url=await make_database("deadlines"), kafka=kafka, environment="test"),
        clock,
    )
    app.state.authenticator = required_auth(TEST_ISSUER, [ENGINE_RXX])
    lead, auditor, admin = (person("RXX", r) for r in (Role.RP_LEAD, Role.AUDITOR, Role.TRUST_ADMIN))
    other_lead, other_admin = person("RYY", Role.RP_LEAD), person("RYY", Role.TRUST_ADMIN)
    incident = uuid.uuid4()  # trust RXX, site RXX01, 12x: notifiable
    windows = f"/v1/incidents/{incident}/deadlines"
    async with (
        runtime.lifespan(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dl") as c,
    ):
        await produce(
            kafka.bootstrap_servers,
            kafka.topics.classifications,
            [(incident.bytes, classified(incident, 12.0, clock.now()).to_json_bytes())],
        )

        async def opened() -> None:
            assert (await c.get(windows, headers=lead)).status_code == 200

        await eventually(opened)
        before = (await c.get(windows, headers=lead)).json()

        routes: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", "/v1/deadlines", None),
            ("GET", windows, None),
            ("POST", f"/v1/incidents/{incident}/submissions", EXTERNAL),
            ("POST", f"/v1/incidents/{incident}/deadlines/investigation_report/extensions", EXTENSION),
            ("GET", "/v1/trusts/RXX/deadline-policy", None),
            ("PUT", "/v1/trusts/RXX/deadline-policy", POLICY),
        ]
        # No credentials: 401 on every route.
        for method, path, body in routes:
            response = await c.request(method, path, json=body)
            assert response.status_code == 401, (method, path, response.status_code)
            assert "WWW-Authenticate" in response.headers

        # The wrong role: engines have nothing to do here, auditors only read, and theme
        # reviewers see nothing of deadlines.
        engine, reviewer = ENGINE_RXX.header, person("RXX", Role.THEME_REVIEWER)
        assert (await c.get("/v1/deadlines", headers=engine)).status_code == 403
        assert (await c.get(windows, headers=reviewer)).status_code == 403
        assert (await c.get("/v1/trusts/RXX/deadline-policy", headers=engine)).status_code == 403
        for method, path, body in routes:
            if method != "GET":
                refused = await c.request(method, path, json=body, headers=auditor)
                assert refused.status_code == 403, (method, path, refused.status_code)

        # Another trust: the incident and the trust's policy do not exist for it, lists are empty.
        assert (await c.get(windows, headers=other_lead)).status_code == 404
        for body, path in (
            (EXTERNAL, f"/v1/incidents/{incident}/submissions"),
            (EXTENSION, f"/v1/incidents/{incident}/deadlines/investigation_report/extensions"),
        ):
            refused = await c.post(path, json=body, headers=other_lead)
            assert refused.status_code == 404, (path, refused.text)
        listed = await c.get("/v1/deadlines", params={"trust": "RXX"}, headers=other_lead)
        assert listed.status_code == 200 and listed.json() == {"items": []}
        assert (await c.get("/v1/deadlines", headers=other_lead)).json() == {"items": []}
        assert (await c.get("/v1/trusts/RXX/deadline-policy", headers=other_admin)).status_code == 404
        assert (
            await c.put(
                "/v1/trusts/RXX/deadline-policy",
                json={**POLICY, "local_investigation_days": 5},
                headers=other_admin,
            )
        ).status_code == 404

        # Nothing the other trust sent changed RXX's windows or policy.
        assert (await c.get(windows, headers=lead)).json() == before
        policy = (await c.get("/v1/trusts/RXX/deadline-policy", headers=auditor)).json()
        assert policy["local_investigation_days"] != 5

        # The trust's own people: readers read, an RP lead or trust admin acts.
        mine = (await c.get("/v1/deadlines", headers=auditor)).json()["items"]
        assert {w["incident_id"] for w in mine} == {str(incident)}
        assert (await c.put("/v1/trusts/RXX/deadline-policy", json=POLICY, headers=admin)).status_code == 200
        recorded = await c.post(f"/v1/incidents/{incident}/submissions", json=EXTERNAL, headers=lead)
        assert recorded.status_code == 202, recorded.text
