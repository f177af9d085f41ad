"""Production sign-in: OpenID Connect authorisation code flow with PKCE (Authlib), against the
trust's identity provider.

The provider's access token is what the console sends to the APIs, and the APIs verify it
(``AUTH_ISSUER``/``AUTH_JWKS``): the console never mints a token in production. The person's
trust and roles shown on the pages come from the configured claims, of the verified ID token
or, where the provider puts them only there, of the access token; they decide only what the
pages offer, never what the APIs allow.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request
from starlette.responses import Response

from sievert_console.domain.people import Person, roles_from_claim
from sievert_console.settings import OidcSettings

PROVIDER = "trust"


class SignInRefusedError(Exception):
    """The provider's answer does not make a Sievert person (no trust, no role)."""


@dataclass(frozen=True)
class SignedIn:
    person: Person
    access_token: str
    expires_at: float


def _unverified_claims(token: str) -> dict[str, Any]:
    """The access token's claims, for display only: the APIs verify its signature."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}  # an opaque token: the ID token must carry the claims
    return claims


def person_from_claims(
    id_claims: Mapping[str, Any], access_claims: Mapping[str, Any], settings: OidcSettings
) -> Person:
    def claim(name: str) -> Any:
        return id_claims.get(name, access_claims.get(name))

    trust = claim(settings.trust_claim)
    if not isinstance(trust, str) or not trust:
        raise SignInRefusedError(f"the identity provider's token has no {settings.trust_claim!r} claim")
    roles = roles_from_claim(claim(settings.roles_claim))
    if not roles:
        raise SignInRefusedError(
            f"the identity provider gives this account no Sievert role (claim {settings.roles_claim!r})"
        )
    subject = str(claim("sub") or "")
    name = claim(settings.name_claim) or claim("preferred_username") or subject
    return Person(subject=subject, name=str(name), trust=trust, roles=roles, via="oidc")


class OidcSignIn:
    def __init__(
        self, settings: OidcSettings, public_url: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """``transport``: how to reach the provider (tests pass an in-process one)."""
        self.settings = settings
        self.redirect_uri = public_url.rstrip("/") + "/auth/callback"
        client_kwargs: dict[str, Any] = {"scope": settings.scope, "code_challenge_method": "S256"}
        if transport is not None:
            client_kwargs["transport"] = transport
        self._oauth = OAuth()
        self._oauth.register(
            PROVIDER,
            server_metadata_url=str(settings.metadata_url),
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value() if settings.client_secret else None,
            client_kwargs=client_kwargs,
        )

    @property
    def _client(self) -> Any:
        return self._oauth.create_client(PROVIDER)

    async def redirect(self, request: Request) -> Response:
        """To the provider; Authlib keeps the state, nonce and PKCE verifier in the session."""
        response: Response = await self._client.authorize_redirect(request, self.redirect_uri)
        return response

    async def complete(self, request: Request) -> SignedIn:
        token: dict[str, Any] = await self._client.authorize_access_token(request)
        access_token = str(token["access_token"])
        id_claims = dict(token.get("userinfo") or {})
        person = person_from_claims(id_claims, _unverified_claims(access_token), self.settings)
        expires_at = float(token.get("expires_at") or time.time() + float(token.get("expires_in") or 300))
        return SignedIn(person, access_token, expires_at)
