"""Intake with authentication required, over real PostgreSQL and Kafka: who may post, for which
trust and site, who may read what, and the audit trail that records who did it."""

from __future__ import annotations

import pytest

from sievert_shared.auth import Role
from tests.fixtures.intake_support import RunningIntake, intake_requiring_auth
from tests.support.auth import LocalIssuer, api_key, required_auth
from tests.support.kafka import eventually
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
ENGINE_A = api_key("engine-a", "RAA", ["RAA01"])
ENGINE_B = api_key("engine-b", "RBB", ["RBB01"])


def person(trust: str, *roles: Role, subject: str | None = None) -> dict[str, str]:
    return ISSUER.bearer(subject or f"{roles[0]}@{trust}", trust=trust, roles=roles)


intake = intake_requiring_auth(ISSUER, [ENGINE_A, ENGINE_B])


async def test_every_route_but_health_demands_credentials(intake: RunningIntake) -> None:
    c = intake.http
    assert (await c.get("/healthz")).status_code == 200

    async def ready() -> None:  # once its consumer's group has given it its partitions
        assert (await c.get("/readyz")).status_code == 200

    await eventually(ready)
    unauthenticated = [
        await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01")),
        await c.get("/v1/incidents/00000000-0000-0000-0000-000000000001"),
        await c.get("/v1/incidents/00000000-0000-0000-0000-000000000001/audit"),
        await c.get("/v1/incidents/00000000-0000-0000-0000-000000000001/patient"),
        await c.post("/fhir/AdverseEvent", json={}),
        await c.get("/fhir/AdverseEvent/00000000-0000-0000-0000-000000000001"),
    ]
    assert [r.status_code for r in unauthenticated] == [401] * len(unauthenticated)
    assert all("WWW-Authenticate" in r.headers for r in unauthenticated)


async def test_an_engine_posts_only_for_its_own_trust_and_sites(intake: RunningIntake) -> None:
    c = intake.http
    own = await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=ENGINE_A.header)
    assert own.status_code == 202, own.text
    other_site = await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA02"), headers=ENGINE_A.header)
    other_trust = await c.post("/v1/incidents", json=ct_overexposure("RBB", "RBB01"), headers=ENGINE_A.header)
    assert (other_site.status_code, other_trust.status_code) == (403, 403)
    # A person without the integration or rp_lead role may not report at all.
    auditor = await c.post(
        "/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=person("RAA", Role.AUDITOR)
    )
    assert auditor.status_code == 403


async def test_another_trusts_incident_does_not_exist_for_you(intake: RunningIntake) -> None:
    c = intake.http
    posted = await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=ENGINE_A.header)
    incident = posted.json()["incident_id"]
    a_lead, b_lead = person("RAA", Role.RP_LEAD), person("RBB", Role.RP_LEAD)
    assert (await c.get(f"/v1/incidents/{incident}", headers=a_lead)).status_code == 200
    assert (await c.get(f"/v1/incidents/{incident}", headers=b_lead)).status_code == 404
    assert (await c.get(f"/v1/incidents/{incident}", headers=ENGINE_B.header)).status_code == 404
    assert (await c.get(f"/fhir/AdverseEvent/{incident}", headers=b_lead)).status_code == 404
    assert (
        await c.get(f"/v1/incidents/{incident}/audit", headers=person("RBB", Role.AUDITOR))
    ).status_code == 404
    amend = {"expected_version": 1, "facts": {"total_effective_dose_msv": 30.0}, "reason": "typo"}
    refused = await c.post(f"/v1/incidents/{incident}/amendments", json=amend, headers=ENGINE_B.header)
    assert refused.status_code == 404
    # Nothing was changed by the refused amendment.
    read = (await c.get(f"/v1/incidents/{incident}", headers=a_lead)).json()
    assert read["stream_version"] == 1


async def test_the_audit_trail_names_the_authenticated_actor_and_the_request(intake: RunningIntake) -> None:
    c = intake.http
    headers = {**ENGINE_A.header, "X-Actor": "someone-else", "X-Correlation-ID": "req-123"}
    incident = (await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=headers)).json()[
        "incident_id"
    ]
    lead = person("RAA", Role.RP_LEAD, subject="lead@raa")
    amend = {"expected_version": 1, "facts": {"total_effective_dose_msv": 30.0}, "reason": "re-measured"}
    amended = await c.post(
        f"/v1/incidents/{incident}/amendments", json=amend, headers={**lead, "X-Correlation-ID": "req-456"}
    )
    assert amended.status_code == 202, amended.text
    audit = await c.get(f"/v1/incidents/{incident}/audit", headers=person("RAA", Role.AUDITOR))
    assert audit.status_code == 200, audit.text
    entries = [(e["actor"], e["action"], e["correlation_id"]) for e in audit.json()["entries"]]
    assert entries == [
        ("engine-a", "IncidentReported", "req-123"),
        ("lead@raa", "IncidentFactsAmended", "req-456"),
    ]
    assert all(e["at"] for e in audit.json()["entries"])
    # The integration role may not read the audit trail.
    assert (await c.get(f"/v1/incidents/{incident}/audit", headers=ENGINE_A.header)).status_code == 403


async def test_an_engine_over_its_rate_gets_429(intake: RunningIntake) -> None:
    app = intake.http._transport.app  # type: ignore[attr-defined]
    app.state.authenticator = required_auth(ISSUER, [ENGINE_A], rate_per_second=0.1, rate_burst=1)
    c = intake.http
    first = await c.get("/v1/incidents/00000000-0000-0000-0000-000000000001", headers=ENGINE_A.header)
    second = await c.get("/v1/incidents/00000000-0000-0000-0000-000000000001", headers=ENGINE_A.header)
    assert (first.status_code, second.status_code) == (404, 429)
    assert int(second.headers["Retry-After"]) >= 1
    assert second.headers["content-type"] == "application/problem+json"
