"""KEK rotation: intake unwraps with the old and the new KEK while ``sievert rotate-kek``
re-wraps every data key under the new one in batches; afterwards the old KEK is not needed."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from sievert_intake.adapters.identity_vault import LocalKek
from sievert_shared.auth import Role
from tests.fixtures.intake_support import RunningIntake, running_intake
from tests.support.auth import LocalIssuer, api_key, person, required_auth
from tests.support.infra import Infra
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
ENGINE = api_key("engine-k", "RXX", ["RXX01"])
# Long-lived like tests.support.auth.person: module-level headers must outlive a slow suite.
LEAD = person("RXX", Role.RP_LEAD, subject="lead@RXX", issuer=ISSUER)
ADMIN = person("RXX", Role.TRUST_ADMIN, subject="admin@RXX", issuer=ISSUER)
OLD = base64.b64encode(os.urandom(32)).decode()
NEW = base64.b64encode(os.urandom(32)).decode()


def patient(i: int) -> dict[str, str]:
    return {"nhs_number": f"94347659{i:02d}", "family_name": f"Rotation-{i}", "address": f"{i} Keyring Close"}


async def post(intake: RunningIntake, i: int) -> tuple[str, str]:
    intake.app.state.authenticator = required_auth(ISSUER, [ENGINE])
    posted = await intake.http.post(
        "/v1/incidents", json={**ct_overexposure(), "patient": patient(i)}, headers=ENGINE.header
    )
    assert posted.status_code == 202, posted.text
    return posted.json()["incident_id"], posted.json()["patient_pseudonym"]


async def family_name(intake: RunningIntake, incident: str) -> str | int:
    intake.app.state.authenticator = required_auth(ISSUER, [ENGINE])
    shown = await intake.http.get(f"/v1/incidents/{incident}/patient", headers=LEAD)
    return shown.json()["identifiers"]["family_name"] if shown.status_code == 200 else shown.status_code


async def kek_ids(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        return {
            r["pseudonym"]: r["kek_id"]
            for r in await conn.fetch("SELECT pseudonym, kek_id FROM patient_keys")
        }
    finally:
        await conn.close()


def rotate_kek(url: str, *, previous: str | None, batch_size: int = 2) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it: ``sievert rotate-kek`` (the entry point), in a process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env |= {"INTAKE_DATABASE_URL": url, "INTAKE_IDENTIFIER_KEK": NEW, "INTAKE_ENVIRONMENT": "test"}
    if previous is not None:
        env["INTAKE_IDENTIFIER_KEK_PREVIOUS"] = previous
    return subprocess.run(
        [sys.executable, "-m", "sievert_shared.cli", "rotate-kek", "--batch-size", str(batch_size)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_rotation_rewraps_every_key_while_intake_reads_with_both(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    url: str
    async with running_intake(
        infra, topic_prefix, make_database, identifier_kek=SecretStr(OLD)
    ) as before_rotation:
        url = before_rotation.database_url
        old_incidents = [await post(before_rotation, i) for i in range(5)]
        # an erased patient: their key is gone before the rotation and stays gone after it
        erased_incident, erased = await post(before_rotation, 9)
        before_rotation.app.state.authenticator = required_auth(ISSUER, [ENGINE])
        assert (await before_rotation.http.delete(f"/v1/patients/{erased}", headers=ADMIN)).status_code == 204
    old_id, new_id = LocalKek(OLD).key_id, LocalKek(NEW).key_id
    assert set((await kek_ids(url)).values()) == {old_id}

    # Without the old KEK the command refuses, and changes nothing.
    refused = rotate_kek(url, previous=None)
    assert refused.returncode == 1, refused.stderr
    assert "INTAKE_IDENTIFIER_KEK_PREVIOUS" in refused.stderr
    assert set((await kek_ids(url)).values()) == {old_id}

    async def during(intake: RunningIntake) -> str:
        # old keys unwrap (previous KEK), new patients get keys under the new KEK
        for (incident, _), i in zip(old_incidents, range(5), strict=True):
            assert await family_name(intake, incident) == f"Rotation-{i}"
        incident, name = await post(intake, 7)
        assert (await kek_ids(url))[name] == new_id
        return incident

    async with running_intake(
        infra,
        topic_prefix,
        lambda _label: _same(url),
        identifier_kek=SecretStr(NEW),
        identifier_kek_previous=SecretStr(OLD),
    ) as rotating:
        new_incident = await during(rotating)
        rotated = rotate_kek(url, previous=OLD)
        assert rotated.returncode == 0, rotated.stderr
        # batches of 2 over the 5 old keys: progress after each, then the summary
        lines = rotated.stderr.strip().splitlines()
        assert [line.split(" data keys")[0] for line in lines[:3]] == [
            "rotate-kek: 2/5",
            "rotate-kek: 4/5",
            "rotate-kek: 5/5",
        ]
        assert (
            lines[-1].startswith("rotate-kek: 5 data keys re-wrapped") and "0 under another KEK" in lines[-1]
        )
        assert set((await kek_ids(url)).values()) == {new_id}
        for (incident, _), i in zip(old_incidents, range(5), strict=True):
            assert await family_name(rotating, incident) == f"Rotation-{i}"

    # Run again: nothing left to do.
    again = rotate_kek(url, previous=OLD)
    assert again.returncode == 0 and "0 data keys re-wrapped" in again.stderr, again.stderr

    # The old KEK is no longer needed: intake with the new one alone reads every patient.
    async with running_intake(
        infra, topic_prefix, lambda _label: _same(url), identifier_kek=SecretStr(NEW)
    ) as after_rotation:
        for (incident, _), i in zip(old_incidents, range(5), strict=True):
            assert await family_name(after_rotation, incident) == f"Rotation-{i}"
        assert await family_name(after_rotation, new_incident) == "Rotation-7"
        assert await family_name(after_rotation, erased_incident) == 410


async def _same(url: str) -> str:
    return url
