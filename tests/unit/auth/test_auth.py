"""Who is calling: API keys, bearer tokens from a local issuer, roles, development mode, limits."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from sievert_shared.auth import Authenticator, AuthSettings, Principal, Role, install_auth, require
from sievert_shared.http import install_http_conventions
from sievert_shared.ratelimit import RateLimiter, retry_after_header
from tests.support.auth import LocalIssuer, api_key, required_auth

ISSUER = LocalIssuer()
OTHER_ISSUER = LocalIssuer()  # same issuer name, other keys: a forger
ENGINE = api_key("engine-rxx", "RXX", ["RXX01"])

RpLead = Annotated[Principal, require(Role.RP_LEAD)]
Anyone = Annotated[Principal, require()]


def make_app(authenticator: Authenticator) -> FastAPI:
    app = FastAPI()
    install_http_conventions(app)
    install_auth(app, authenticator)

    @app.get("/lead")
    async def lead(caller: RpLead) -> dict[str, Any]:
        return {
            "subject": caller.subject,
            "kind": caller.kind,
            "trust": caller.trust,
            "sites": sorted(caller.sites),
        }

    @app.get("/anyone")
    async def anyone(caller: Anyone) -> dict[str, Any]:
        return {"subject": caller.subject, "kind": caller.kind}

    @app.get("/boom")
    async def boom(caller: Anyone) -> None:
        raise RuntimeError("secret internal detail at /srv/sievert/db.py line 42")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(required_auth(ISSUER, [ENGINE]))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_no_credentials_is_401_with_a_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/lead")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="sievert"')
    assert "ApiKey" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_a_person_with_a_valid_token_and_role_gets_in(client: httpx.AsyncClient, alg: str) -> None:
    headers = ISSUER.bearer("alice@rxx", trust="RXX", roles=[Role.RP_LEAD], alg=alg)
    response = await client.get("/lead", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "alice@rxx", "kind": "user", "trust": "RXX", "sites": []}


async def test_the_wrong_role_is_403(client: httpx.AsyncClient) -> None:
    headers = ISSUER.bearer("aud@rxx", trust="RXX", roles=[Role.AUDITOR])
    response = await client.get("/lead", headers=headers)
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response.headers


def _unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]


def _hs256_with_public_key() -> str:
    # Algorithm confusion: sign with HMAC using the issuer's *public* key as the secret.
    public = ISSUER.jwks()["keys"][0]["n"]
    claims: dict[str, Any] = {
        "iss": ISSUER.issuer,
        "aud": "sievert",
        "sub": "x",
        "trust": "RXX",
        "roles": ["rp_lead"],
    }
    claims["exp"] = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    return jwt.encode(claims, public, algorithm="HS256", headers={"kid": "rsa-1"})


BAD_TOKENS = [
    pytest.param(
        lambda: ISSUER.token("a", trust="RXX", roles=["rp_lead"], expires_in=dt.timedelta(minutes=-5)),
        id="expired",
    ),
    pytest.param(
        lambda: ISSUER.token("a", trust="RXX", roles=["rp_lead"], iss="https://evil"), id="other-issuer"
    ),
    pytest.param(
        lambda: ISSUER.token("a", trust="RXX", roles=["rp_lead"], aud="another-api"), id="other-audience"
    ),
    pytest.param(lambda: OTHER_ISSUER.token("a", trust="RXX", roles=["rp_lead"]), id="forged-signature"),
    pytest.param(
        lambda: _unsigned(
            {
                "iss": ISSUER.issuer,
                "aud": "sievert",
                "sub": "a",
                "trust": "RXX",
                "roles": ["rp_lead"],
                "exp": 9999999999,
            }
        ),
        id="alg-none",
    ),
    pytest.param(_hs256_with_public_key, id="alg-confusion-hs256"),
    pytest.param(lambda: ISSUER.token("a", trust="", roles=["rp_lead"]), id="no-trust"),
    pytest.param(lambda: "not.a.jwt", id="garbage"),
]


@pytest.mark.parametrize("make_token", BAD_TOKENS)
async def test_invalid_tokens_are_401(client: httpx.AsyncClient, make_token: Any) -> None:
    response = await client.get("/lead", headers={"Authorization": f"Bearer {make_token()}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_an_api_key_authenticates_its_client(client: httpx.AsyncClient) -> None:
    response = await client.get("/anyone", headers=ENGINE.header)
    assert response.json() == {"subject": "engine-rxx", "kind": "client"}
    response = await client.get("/anyone", headers={"X-API-Key": f"{ENGINE.key_id}.{ENGINE.secret}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param(f"{ENGINE.key_id}.wrong-secret", id="wrong-secret"),
        pytest.param(f"nobody.{ENGINE.secret}", id="unknown-id"),
        pytest.param(ENGINE.key_id, id="no-secret"),
        pytest.param(f"{ENGINE.key_id}.{ENGINE.config.hash}", id="the-hash-itself"),
    ],
)
async def test_bad_api_keys_are_401(client: httpx.AsyncClient, presented: str) -> None:
    response = await client.get("/anyone", headers={"Authorization": f"ApiKey {presented}"})
    assert response.status_code == 401


async def test_a_client_credentials_token_is_a_client(client: httpx.AsyncClient) -> None:
    headers = ISSUER.bearer("engine-2", trust="RXX", roles=["integration"], sites=["RXX02"], client=True)
    assert (await client.get("/anyone", headers=headers)).json() == {"subject": "engine-2", "kind": "client"}
    assert (await client.get("/lead", headers=headers)).status_code == 403


async def test_error_bodies_carry_no_stack_trace(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom", headers=ENGINE.header)
    assert response.status_code == 500
    text = response.text
    assert "Traceback" not in text and "secret internal detail" not in text and ".py" not in text
    assert response.json()["title"] == "Internal error"


async def test_development_mode_serves_anonymous_calls_but_still_checks_credentials() -> None:
    authenticator = Authenticator(
        AuthSettings(mode="development", api_keys={ENGINE.key_id: ENGINE.config}), environment="test"
    )
    transport = httpx.ASGITransport(app=make_app(authenticator))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as dev:
        anonymous = await dev.get("/lead")
        assert anonymous.status_code == 200
        assert anonymous.json()["subject"] == "dev-unauthenticated"
        assert (
            await dev.get("/lead", headers={"Authorization": "ApiKey engine-rxx.wrong"})
        ).status_code == 401


def test_development_mode_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="refused in production"):
        Authenticator(AuthSettings(mode="development"), environment="production")
    assert Authenticator(AuthSettings(), environment="production").mode == "required"
    assert Authenticator(AuthSettings(), environment="development").mode == "development"


async def test_a_caller_over_its_rate_gets_429_with_retry_after() -> None:
    app = make_app(required_auth(ISSUER, [ENGINE], rate_per_second=0.5, rate_burst=2))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        codes = [(await c.get("/anyone", headers=ENGINE.header)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        refused = await c.get("/anyone", headers=ENGINE.header)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        # Another caller has its own bucket.
        other = ISSUER.bearer("alice", trust="RXX", roles=["rp_lead"])
        assert (await c.get("/anyone", headers=other)).status_code == 200


def test_the_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=2, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    assert retry_after_header(0.01) == "1" and retry_after_header(2.2) == "3"
