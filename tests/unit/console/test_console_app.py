"""The console's app in process, without the services: settings refused in production, sign-in
required, CSRF checked, development tokens the services' verifier accepts, and the live hub's
tenancy. (Pages against the real services: tests/browser.)"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sievert_console.adapters.dev_tokens import DevIssuer, write_dev_key
from sievert_console.adapters.live import RESYNC, LiveHub, decode_change
from sievert_console.bootstrap import build
from sievert_console.domain.live import Change
from sievert_console.settings import DEV_ISSUER, ConsoleSettings, ServiceUrls
from sievert_shared.auth import Authenticator, AuthSettings, Role


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({}, "CONSOLE_SESSION_SECRET must be set", id="dev-session-secret"),
        pytest.param({"session_secret": "short"}, "at least 32", id="short-secret"),
        pytest.param(
            {"session_secret": "x" * 40, "dev_signing_key_file": "/tmp/k.pem"},
            "refused in production",
            id="dev-key",
        ),
        pytest.param({"session_secret": "x" * 40}, "CONSOLE_OIDC", id="no-identity-provider"),
    ],
)
def test_production_refuses_development_secrets_and_sign_in(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConsoleSettings(environment="production", **overrides)


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        ConsoleSettings(colour="blue")  # type: ignore[call-arg]


def test_a_development_token_is_what_the_services_accept_for_that_role_and_trust(tmp_path: Path) -> None:
    key = write_dev_key(tmp_path)
    assert key.private_key.stat().st_mode & 0o077 == 0  # the private half is the user's alone
    issuer = DevIssuer(
        key.private_key, issuer=DEV_ISSUER, audience="sievert", lifetime=dt.timedelta(minutes=5)
    )
    token = issuer.token("dev:rp_lead@RXX", trust="RXX", roles=["rp_lead"], now=dt.datetime.now(dt.UTC))

    services = Authenticator(
        AuthSettings(mode="required", issuer=DEV_ISSUER, audience="sievert", jwks_file=key.jwks),
        environment="test",
    )
    principal = services.authenticate({"authorization": f"Bearer {token}"})
    assert (principal.subject, principal.trust, principal.roles) == (
        "dev:rp_lead@RXX",
        "RXX",
        frozenset({Role.RP_LEAD}),
    )
    assert not principal.every_trust


#: Port 9 (discard): nothing answers there, so no test ever reaches a service someone is running.
NOWHERE = ServiceUrls(**{name: "http://127.0.0.1:9" for name in ServiceUrls.model_fields})


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    key = write_dev_key(tmp_path)
    settings = ConsoleSettings(dev_signing_key_file=key.private_key, live_updates=False, services=NOWHERE)
    app = build(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
            yield app, client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_pages_need_a_signed_in_person(console: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _app, client = console
    page = await client.get("/queue")
    assert (page.status_code, page.headers["location"]) == (303, "/sign-in")
    fragment = await client.get("/queue/rows", headers={"HX-Request": "true"})
    assert (fragment.status_code, fragment.headers["HX-Redirect"]) == (401, "/sign-in")
    assert (await client.get("/live")).status_code == 303


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _app, client = console
    form = await client.get("/sign-in")
    assert (
        "httponly" in form.headers["set-cookie"].lower()
        and "samesite=lax" in form.headers["set-cookie"].lower()
    )
    refused = await client.post(
        "/sign-in", data={"trust": "RDEMO", "role": "rp_lead", "csrf_token": "forged"}
    )
    assert refused.status_code == 403
    assert (await client.get("/queue")).status_code == 303  # still nobody signed in

    signed_in = await client.post(
        "/sign-in", data={"trust": "RDEMO", "role": "rp_lead", "csrf_token": csrf_of(form.text)}
    )
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/queue")


async def test_only_the_listed_trusts_and_roles_can_be_picked(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _app, client = console
    token = csrf_of((await client.get("/sign-in")).text)
    for trust, role in (("RNOTLISTED", "rp_lead"), ("RDEMO", "integration")):
        answer = await client.post("/sign-in", data={"trust": trust, "role": role, "csrf_token": token})
        assert answer.status_code == 422, (trust, role)


async def test_a_service_that_answers_nothing_shows_as_down(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """Nothing listens at the services' addresses: the queue page still renders, and says which
    services are down."""
    _app, client = console
    token = csrf_of((await client.get("/sign-in")).text)
    await client.post("/sign-in", data={"trust": "RDEMO", "role": "rp_lead", "csrf_token": token})
    page = await client.get("/queue")
    assert page.status_code == 200
    assert "The deadlines service is not answering" in page.text
    assert "The reporting service is not answering" in page.text


def test_the_live_hub_tells_a_page_only_of_its_own_trust() -> None:
    hub = LiveHub()
    change = Change("RXX", "DeadlineScheduled", "i-1", ("incident-i-1", "queue"))
    with hub.subscribe("RXX") as ours, hub.subscribe("RYY") as theirs:
        assert hub.publish(change) == 1
        assert ours.queue.get_nowait() == change
        assert theirs.queue.empty()
        assert hub.changed_after("RXX", 0) and not hub.changed_after("RYY", 0)
    assert hub.subscribers == 0


def test_a_page_too_far_behind_is_told_to_read_everything_again() -> None:
    hub = LiveHub()
    change = Change("RXX", "DeadlineScheduled", "i-1", ("queue",))
    with hub.subscribe("RXX") as page:
        for _ in range(page.queue.maxsize + 1):
            hub.publish(change)
        assert page.queue.get_nowait() == RESYNC
        assert page.queue.empty()


def test_bytes_that_are_no_envelope_change_nothing() -> None:
    assert decode_change(b"not json") is None
    assert decode_change(None) is None


async def test_an_action_without_the_csrf_token_is_refused(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _app, client = console
    token = csrf_of((await client.get("/sign-in")).text)
    await client.post("/sign-in", data={"trust": "RDEMO", "role": "rp_lead", "csrf_token": token})
    token = csrf_of((await client.get("/themes")).text)  # a new session, a new token
    action = "/incidents/6f1c2a4e-0000-4000-8000-000000000001/amendments"
    form = {"expected_version": "1", "total_effective_dose_msv": "12", "reason": "estimated"}

    assert (await client.post(action, data=form)).status_code == 403
    assert (await client.post(action, data=form, headers={"X-CSRF-Token": "forged"})).status_code == 403
    # With the token the action goes ahead (to intake, which nothing answers here).
    answered = await client.post(action, data=form, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert answered.status_code == 200
    assert "Intake is not answering" in answered.text
