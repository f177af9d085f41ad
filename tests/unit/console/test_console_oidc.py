"""Production sign-in through OpenID Connect, against an identity provider served in process: the
redirect carries PKCE (S256), state and nonce; the callback checks the ID token and makes the
person from the configured claims; an account without a Sievert role is refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse

from sievert_console.adapters.oidc import OidcSignIn
from sievert_console.bootstrap import build
from sievert_console.settings import ConsoleSettings, OidcSettings, ServiceUrls

ISSUER = "https://idp.test"
CLIENT_ID = "sievert-console"
NOWHERE = ServiceUrls(**{name: "http://127.0.0.1:9" for name in ServiceUrls.model_fields})


@dataclass
class FakeProvider:
    """An identity provider that issues a code for whatever the test says the person is."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    claims: dict[str, Any] = field(default_factory=dict)
    #: code -> (nonce, code_challenge) of the authorisation request it answers
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    verifiers_seen: list[str] = field(default_factory=list)

    def sign(self, claims: dict[str, Any]) -> str:
        now = dt.datetime.now(dt.UTC)
        body = {"iss": ISSUER, "iat": now, "exp": now + dt.timedelta(minutes=5), **claims}
        return jwt.encode(body, self.key, algorithm="ES256", headers={"kid": "idp-1"})

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def metadata() -> dict[str, Any]:
            return {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
                "id_token_signing_alg_values_supported": ["ES256"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
            return {"keys": [{**public, "kid": "idp-1", "alg": "ES256", "use": "sig"}]}

        @app.post("/token")
        async def token(
            code: str = Form(), code_verifier: str = Form(), grant_type: str = Form()
        ) -> JSONResponse:
            nonce, challenge = self.codes[code]
            digest = hashlib.sha256(code_verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            self.verifiers_seen.append(code_verifier)
            subject = {"sub": "person-1", **self.claims}
            return JSONResponse(
                {
                    "access_token": self.sign({**subject, "aud": "sievert"}),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": self.sign({**subject, "aud": CLIENT_ID, "nonce": nonce}),
                }
            )

        return app


@pytest.fixture
async def signed_in_via(tmp_path: Path) -> AsyncIterator[tuple[FakeProvider, httpx.AsyncClient]]:
    provider = FakeProvider()
    oidc = OidcSettings(
        metadata_url=f"{ISSUER}/.well-known/openid-configuration",
        client_id=CLIENT_ID,
        client_secret="not-a-real-secret",
        roles_claim="sievert_roles",
        trust_claim="ods_trust",
    )
    settings = ConsoleSettings(oidc=oidc, live_updates=False, services=NOWHERE)
    app = build(settings)
    app.state.console.oidc = OidcSignIn(oidc, settings.public_url, httpx.ASGITransport(app=provider.app()))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8004") as client,
    ):
        yield provider, client


async def authorise(provider: FakeProvider, client: httpx.AsyncClient) -> httpx.Response:
    """What the browser does: to the provider and back, with a code for the request made."""
    redirect = await client.get("/auth/login")
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://127.0.0.1:8004/auth/callback"
    code = uuid.uuid4().hex
    provider.codes[code] = (query["nonce"], query["code_challenge"])
    return await client.get("/auth/callback", params={"code": code, "state": query["state"]})


async def test_a_person_signs_in_with_the_trusts_identity_provider(
    signed_in_via: tuple[FakeProvider, httpx.AsyncClient],
) -> None:
    provider, client = signed_in_via
    provider.claims = {"name": "A. Physicist", "ods_trust": "RXX", "sievert_roles": ["rp_lead", "payroll"]}

    answer = await authorise(provider, client)

    assert (answer.status_code, answer.headers["location"]) == (303, "/queue")
    assert len(provider.verifiers_seen) == 1  # PKCE: the verifier matched the challenge
    page = await client.get("/queue")
    assert page.status_code == 200
    assert "A. Physicist" in page.text and "Radiation protection lead" in page.text and "RXX" in page.text
    assert "payroll" not in page.text


async def test_a_forged_state_is_refused(signed_in_via: tuple[FakeProvider, httpx.AsyncClient]) -> None:
    provider, client = signed_in_via
    provider.claims = {"ods_trust": "RXX", "sievert_roles": ["rp_lead"]}
    await client.get("/auth/login")
    answer = await client.get("/auth/callback", params={"code": "x", "state": "forged"})
    assert answer.status_code == 403
    assert (await client.get("/queue")).status_code == 303


async def test_an_account_without_a_sievert_role_is_refused(
    signed_in_via: tuple[FakeProvider, httpx.AsyncClient],
) -> None:
    provider, client = signed_in_via
    provider.claims = {"ods_trust": "RXX", "sievert_roles": ["payroll"]}
    answer = await authorise(provider, client)
    assert answer.status_code == 403
    assert "no Sievert role" in answer.text
    assert (await client.get("/queue")).status_code == 303
