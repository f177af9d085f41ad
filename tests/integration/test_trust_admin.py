"""A trust admin registers sites and makes and revokes integration clients at run time:
the new engine posts at once, only for its sites, and a revoked key is refused. Real PostgreSQL
and Kafka, authentication required."""

from __future__ import annotations

import asyncpg
import pytest

from sievert_shared.auth import Role
from tests.fixtures.intake_support import RunningIntake, intake_requiring_auth
from tests.support.auth import TEST_ISSUER, person
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

ADMIN_A = person("RAA", Role.TRUST_ADMIN, subject="admin@RAA")
ADMIN_B = person("RBB", Role.TRUST_ADMIN, subject="admin@RBB")
AUDITOR_A = person("RAA", Role.AUDITOR)
LEAD_A = person("RAA", Role.RP_LEAD)


intake = intake_requiring_auth(TEST_ISSUER)


async def register_sites(intake: RunningIntake, *sites: str) -> None:
    for site in sites:
        response = await intake.http.put(
            f"/v1/trusts/RAA/sites/{site}",
            json={"name": f"Site {site}", "nation": "england"},
            headers=ADMIN_A,
        )
        assert response.status_code == 201, response.text


async def test_a_client_made_at_run_time_posts_for_its_sites_only_until_revoked(
    intake: RunningIntake,
) -> None:
    c = intake.http
    await register_sites(intake, "RAA01", "RAA02")
    made = await c.post(
        "/v1/trusts/RAA/clients", json={"name": "Rhapsody", "sites": ["RAA01"]}, headers=ADMIN_A
    )
    assert made.status_code == 201, made.text
    assert made.headers["Cache-Control"] == "no-store"
    client = made.json()
    engine = {"Authorization": f"ApiKey {client['api_key']}"}
    assert client["roles"] == ["integration"] and client["sites"] == ["RAA01"]

    posted = await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=engine)
    assert posted.status_code == 202, posted.text
    assert (
        await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA02"), headers=engine)
    ).status_code == 403
    assert (
        await c.post("/v1/incidents", json=ct_overexposure("RBB", "RBB01"), headers=engine)
    ).status_code == 403
    # The engine is the actor on its events.
    audit = await c.get(f"/v1/incidents/{posted.json()['incident_id']}/audit", headers=AUDITOR_A)
    assert audit.json()["entries"][0]["actor"] == client["key_id"]

    # The secret is shown once: no list carries it, and the database holds only its hash.
    listed = (await c.get("/v1/trusts/RAA/clients", headers=AUDITOR_A)).json()["clients"]
    assert [x["key_id"] for x in listed] == [client["key_id"]]
    assert "api_key" not in listed[0]
    secret = client["api_key"].split(".", 1)[1]
    conn = await asyncpg.connect(intake.database_url)
    try:
        stored = await conn.fetchrow("SELECT * FROM integration_clients")
        assert stored is not None
        assert secret not in {str(v) for v in dict(stored).values()}
    finally:
        await conn.close()

    revoked = await c.delete(f"/v1/trusts/RAA/clients/{client['key_id']}", headers=ADMIN_A)
    assert revoked.status_code == 204
    refused = await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=engine)
    assert refused.status_code == 401
    (after,) = (await c.get("/v1/trusts/RAA/clients", headers=ADMIN_A)).json()["clients"]
    assert after["revoked_by"] == "admin@RAA" and after["revoked_at"] is not None


async def test_a_client_needs_registered_sites_and_a_wrong_secret_is_refused(intake: RunningIntake) -> None:
    c = intake.http
    await register_sites(intake, "RAA01")
    unknown = await c.post(
        "/v1/trusts/RAA/clients", json={"name": "x", "sites": ["RAA01", "RAA09"]}, headers=ADMIN_A
    )
    assert unknown.status_code == 422
    assert "RAA09" in unknown.json()["detail"] and "RAA01" not in unknown.json()["detail"]
    made = (
        await c.post("/v1/trusts/RAA/clients", json={"name": "x", "sites": ["RAA01"]}, headers=ADMIN_A)
    ).json()
    forged = {"Authorization": f"ApiKey {made['key_id']}.not-the-secret"}
    assert (
        await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=forged)
    ).status_code == 401


async def test_only_the_trusts_own_admin_changes_it_and_every_change_is_logged(intake: RunningIntake) -> None:
    c = intake.http
    await register_sites(intake, "RAA01")
    site = {"name": "Elsewhere", "nation": "wales"}
    # Another trust's admin: the trust does not exist for them. Other roles: forbidden.
    assert (await c.put("/v1/trusts/RAA/sites/RAA03", json=site, headers=ADMIN_B)).status_code == 404
    assert (await c.get("/v1/trusts/RAA/clients", headers=ADMIN_B)).status_code == 404
    assert (await c.get("/v1/trusts/RAA/admin-log", headers=ADMIN_B)).status_code == 404
    assert (await c.put("/v1/trusts/RAA/sites/RAA03", json=site, headers=LEAD_A)).status_code == 403
    assert (
        await c.post("/v1/trusts/RAA/clients", json={"name": "x", "sites": ["RAA01"]}, headers=AUDITOR_A)
    ).status_code == 403
    assert (await c.get("/v1/trusts/RAA/sites")).status_code == 401
    # Renaming a site answers 200, not 201.
    renamed = await c.put("/v1/trusts/RAA/sites/RAA01", json=site, headers=ADMIN_A)
    assert renamed.status_code == 200 and renamed.json()["nation"] == "wales"
    made = (
        await c.post("/v1/trusts/RAA/clients", json={"name": "x", "sites": ["RAA01"]}, headers=ADMIN_A)
    ).json()
    await c.delete(f"/v1/trusts/RAA/clients/{made['key_id']}", headers=ADMIN_A)
    assert (await c.delete("/v1/trusts/RAA/clients/raa-nosuchkey", headers=ADMIN_A)).status_code == 404

    log = (await c.get("/v1/trusts/RAA/admin-log", headers=AUDITOR_A)).json()["entries"]
    assert [(e["action"], e["subject"]) for e in reversed(log)] == [
        ("site_registered", "RAA01"),
        ("site_changed", "RAA01"),
        ("client_created", made["key_id"]),
        ("client_revoked", made["key_id"]),
    ]
    assert {e["actor"] for e in log} == {"admin@RAA"}
    assert all("api_key" not in str(e["details"]) for e in log)
    conn = await asyncpg.connect(intake.database_url)
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM trust_admin_log")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE trust_admin_log SET actor = 'nobody'")
    finally:
        await conn.close()


async def test_a_registered_site_code_belongs_to_one_trust(intake: RunningIntake) -> None:
    c = intake.http
    await register_sites(intake, "RAA01")
    taken = await c.put(
        "/v1/trusts/RBB/sites/RAA01", json={"name": "Ours?", "nation": "england"}, headers=ADMIN_B
    )
    assert taken.status_code == 409, taken.text
    # People are trust-wide: without the registry, trust B's lead could label B's incident RAA01.
    b_lead = person("RBB", Role.RP_LEAD)
    refused = await c.post("/v1/incidents", json=ct_overexposure("RBB", "RAA01"), headers=b_lead)
    assert refused.status_code == 403 and "registered to another trust" in refused.json()["detail"]
    own = await c.post("/v1/incidents", json=ct_overexposure("RAA", "RAA01"), headers=LEAD_A)
    assert own.status_code == 202, own.text
    unregistered = await c.post("/v1/incidents", json=ct_overexposure("RBB", "RBB07"), headers=b_lead)
    assert unregistered.status_code == 202, unregistered.text  # registering sites is optional
    (site,) = (await c.get("/v1/trusts/RAA/sites", headers=ADMIN_A)).json()["sites"]
    assert site["trust"] == "RAA"
