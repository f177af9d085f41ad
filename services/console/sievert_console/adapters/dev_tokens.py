"""Development sign-in: the console as a small token issuer for people it does not know.

Outside production, a person picks a trust and a role and the console mints a short-lived
ES256 bearer token for them, with the claims the services read (``sub``, ``trust``, ``roles``,
``iss``, ``aud``, ``exp``). The services verify it as they verify any issuer's token: against
the public key in ``AUTH_JWKS_FILE`` with ``AUTH_ISSUER``. So the services apply the same role
and tenancy rules as in production, and the console holds no power of its own: without the key
file, or in production, there is no development sign-in at all.

``write_dev_key`` makes a fresh key pair for one run (``make console``, the browser tests): the
private key for the console, the JWKS for the services. Nothing is checked in.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY_ID = "sievert-console-dev"


@dataclass(frozen=True)
class DevKeyFiles:
    private_key: Path
    jwks: Path


def _public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": KEY_ID, "alg": "ES256", "use": "sig"}


def write_dev_key(directory: Path) -> DevKeyFiles:
    """A new P-256 key: the private half readable by this user only, the public half as a JWKS."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private = directory / "console-dev-signing-key.pem"
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    jwks = directory / "console-dev-jwks.json"
    jwks.write_text(json.dumps({"keys": [_public_jwk(key)]}))
    return DevKeyFiles(private, jwks)


class DevIssuer:
    def __init__(self, key_file: Path, *, issuer: str, audience: str, lifetime: dt.timedelta) -> None:
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file} must hold an EC (P-256) private key")
        self._key = loaded
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime

    def token(self, subject: str, *, trust: str, roles: Sequence[str], now: dt.datetime) -> str:
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": str(uuid.uuid4()),
            "trust": trust,
            "sites": [],
            "roles": list(roles),
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": KEY_ID})
