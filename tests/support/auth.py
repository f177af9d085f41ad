"""A local token issuer and API keys for tests: keys are generated in the test, never checked in."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sievert_shared.auth import ApiClient, Authenticator, AuthSettings, Role, hash_api_secret

ISSUER = "https://issuer.test.sievert"
AUDIENCE = "sievert"


@dataclass
class LocalIssuer:
    """An OIDC-style issuer: one RSA and one EC signing key, published as a JWKS."""

    issuer: str = ISSUER
    rsa_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key, alg in (("rsa-1", self.rsa_key, "RS256"), ("ec-1", self.ec_key, "ES256")):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def token(
        self,
        subject: str,
        *,
        trust: str,
        roles: Iterable[Role | str],
        sites: Iterable[str] = (),
        client: bool = False,
        alg: str = "RS256",
        expires_in: dt.timedelta = dt.timedelta(minutes=5),
        **overrides: Any,
    ) -> str:
        now = dt.datetime.now(dt.UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
            "trust": trust,
            "sites": list(sites),
            "roles": [str(r) for r in roles],
        }
        if client:
            claims["client_id"] = subject
        claims.update(overrides)
        key, kid = (self.rsa_key, "rsa-1") if alg == "RS256" else (self.ec_key, "ec-1")
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    def bearer(self, subject: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, **kwargs)}"}


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    secret: str
    config: ApiClient

    @property
    def header(self) -> dict[str, str]:
        return {"Authorization": f"ApiKey {self.key_id}.{self.secret}"}


def api_key(
    key_id: str, trust: str, sites: Iterable[str], roles: Iterable[Role] = (Role.INTEGRATION,)
) -> ApiKey:
    secret = secrets.token_urlsafe(32)
    config = ApiClient(hash=hash_api_secret(secret), trust=trust, sites=list(sites), roles=list(roles))
    return ApiKey(key_id, secret, config)


def required_auth(issuer: LocalIssuer, keys: Iterable[ApiKey] = (), **overrides: Any) -> Authenticator:
    """An authenticator in required mode trusting ``issuer`` and ``keys``."""
    settings = AuthSettings(
        mode="required",
        issuer=issuer.issuer,
        audience=AUDIENCE,
        jwks=issuer.jwks(),
        api_keys={k.key_id: k.config for k in keys},
        **overrides,
    )
    return Authenticator(settings, environment="test")


def development_auth(issuer: LocalIssuer, keys: Iterable[ApiKey] = (), **overrides: Any) -> Authenticator:
    """Development mode that also trusts ``issuer`` and ``keys``, as a developer's machine does:
    a request without credentials is the development principal, credentials sent are verified."""
    settings = AuthSettings(
        mode="development",
        issuer=issuer.issuer,
        audience=AUDIENCE,
        jwks=issuer.jwks(),
        api_keys={k.key_id: k.config for k in keys},
        **overrides,
    )
    return Authenticator(settings, environment="test")


#: One issuer for tests that need people of several trusts but no issuer of their own.
TEST_ISSUER = LocalIssuer()


def person(
    trust: str,
    *roles: Role,
    subject: str | None = None,
    sites: Iterable[str] = (),
    issuer: LocalIssuer = TEST_ISSUER,
) -> dict[str, str]:
    """A person's bearer header. Long-lived: module-level headers outlive a slow suite."""
    return issuer.bearer(
        subject or f"{roles[0]}@{trust}",
        trust=trust,
        roles=roles,
        sites=sites,
        expires_in=dt.timedelta(hours=12),
    )
